"""The `ferpipe` command line: what --help and wrong arguments tell a newcomer."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ferpipe import __version__
from ferpipe.cli import app


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"ferpipe {__version__}"


def test_registered_model_options_are_choices_that_help_lists():
    runner = CliRunner()
    wrong = runner.invoke(app, ["promote", "--data", "synth"])
    assert wrong.exit_code == 2 and "'synth' is not one of" in wrong.output
    shown = runner.invoke(app, ["promote", "--help"]).output
    (force,) = [line for line in shown.splitlines() if "--force" in line]
    assert "<real|synthetic>" in shown and "<bool>" not in force  # a flag, not an option taking a value


def test_every_stage_takes_params_and_overrides():
    for stage in ("synthesize", "ingest", "convert", "train", "evaluate"):
        shown = CliRunner().invoke(app, [stage, "--help"]).output
        assert "--params" in shown and "--set" in shown, stage


def test_summary_says_the_result_the_seed_metric_beside_it_and_what_next(in_tmp):
    import json
    from pathlib import Path

    Path("reports/eval").mkdir(parents=True)
    Path("reports/eval/metrics.json").write_text(
        json.dumps(
            {
                "test_accuracy": 0.61,
                "ci95_low": 0.55,
                "ci95_high": 0.66,
                "ece": 0.081,
                "ece_calibrated": 0.019,
                "temperature": 1.42,
                "seed_binary_accuracy": 0.89,
            }
        )
    )
    Path("reports/eval/details.json").write_text(
        json.dumps(
            {
                "data": "synthetic",
                "split": "test (PrivateTest)",
                "labels": "fer2013",
                "all_zeros_binary_accuracy": 6 / 7,
                "test": {"rows": 359},
            }
        )
    )
    result = CliRunner().invoke(app, ["summary"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == (
        "test accuracy 0.6100 (95% CI 0.5500-0.6600) on 359 test (PrivateTest) faces, fer2013 labels, synthetic data"
    )
    assert lines[1] == "calibration: ECE 0.081, 0.019 after temperature scaling (T = 1.42, fitted on val)"
    assert "binary accuracy 0.8900 (an all-zeros output scores 0.8571" in lines[2]
    assert "SYNTHETIC" in lines[3] and lines[-1].strip() == "ferpipe promote --data synthetic"
    assert any(line.split()[:3] == ["ferpipe", "predict", "models/model.tflite"] for line in lines)
    assert max(map(len, lines)) <= 120


@pytest.mark.parametrize("command", [["promote"], ["rollback"], ["promote", "--force"], ["compare"]])
def test_a_registry_command_with_a_bad_params_file_says_so_in_one_line(in_tmp, command):
    Path("params.yaml").write_text("tracking: [\n")
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1
    assert result.output.startswith("error: params.yaml: line ") and len(result.output.splitlines()) == 1, result.output


def store_beside(params_text: str, uri: str, monkeypatch) -> None:
    """params.yaml (the repository's) in this folder, and MLflow pointed at `uri` as a person points it."""
    from mlflow.tracking._tracking_service import utils

    Path("params.yaml").write_text(params_text)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr(utils, "_tracking_uri", None)  # what an earlier test's set_tracking_uri left in this process


WEAK_ANSWERS = {
    "compare: a run that does not exist": (["compare", "0123456789abcdef"], "0123456789abcdef: no such run"),
    "compare: no runs asked for": (["compare", "--last", "0"], "--last"),
    "compare: a store that cannot be opened": (["compare"], "cannot use the MLflow store sqlite:///not-a-folder"),
    "register-packaged: a store that cannot be written": (["register-packaged"], "cannot use the MLflow store"),
    "budget: a param out of range": (["budget", "5", "-S", "train.lr=-1"], "conf composed with -S train.lr=-1"),
}


@pytest.mark.parametrize("case", WEAK_ANSWERS)
def test_a_tool_given_what_it_cannot_use_answers_in_one_line(in_tmp, case, monkeypatch):
    from tests.conftest import REPO_ROOT

    command, said = WEAK_ANSWERS[case]
    shutil.copytree(REPO_ROOT / "conf", "conf")
    broken = "store" in case  # a store under a file: nothing can open it, as with a read-only or damaged one
    Path("not-a-folder").write_text("")
    uri = "sqlite:///not-a-folder/mlflow.db" if broken else f"sqlite:///{Path('mlflow.db').resolve()}"
    store_beside((REPO_ROOT / "params.yaml").read_text(), uri, monkeypatch)
    if not broken:  # the store made first: MLflow says when it creates a store's tables, once
        CliRunner().invoke(app, ["compare"])
    result = CliRunner().invoke(app, command)
    assert result.exit_code in (1, 2) and said in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 or result.exit_code == 2, result.output  # 2: the option parser's own short usage
    assert "/tmp" not in result.output.replace(str(Path.cwd()), "")


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_a_model_command_with_nothing_named_asks_for_inputs_not_the_optional_model(command):
    shown = CliRunner().invoke(app, [command, "--help"]).output
    assert f"{command} [OPTIONS] [MODEL] [INPUTS]..." in " ".join(shown.split())
    done = CliRunner().invoke(app, [command] + (["-o", "out"] if command == "explain" else []))
    assert done.exit_code == 1 and "Missing argument" not in done.output
    (line,) = done.output.strip().splitlines()
    assert line.startswith(f"error: name what to {command}: photos") and "MODEL if not the packaged one" in line


def test_help_groups_the_commands_stages_first_then_runs_then_models():
    shown = CliRunner().invoke(app, ["--help"]).output
    panels = [shown.index(title) for title in ("The pipeline's stages", "Runs, the registry", "Using a model")]
    assert panels == sorted(panels)
    for command in ("train", "budget", "ship", "compare", "predict", "serve"):
        assert f" {command} " in shown
