"""The `ferpipe` command line: what --help and wrong arguments tell a newcomer."""

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
