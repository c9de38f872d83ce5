"""params.yaml is the one home of every value: complete, typed, composed from conf/ by Hydra."""

import re
import subprocess
import sys

import pytest
import yaml

from ferpipe.core.config import Config, ConfigError, build, load_config
from tests.conftest import REPO_ROOT, composed, params

PARAMS_TEXT = (REPO_ROOT / "params.yaml").read_text()


def leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        keys += leaf_keys(value, f"{prefix}{key}.") if isinstance(value, dict) and key != "rows" else [f"{prefix}{key}"]
    return keys


def without(tree: dict, dotted: str) -> dict:
    copy = yaml.safe_load(yaml.safe_dump(tree))
    *parents, leaf = dotted.split(".")
    node = copy
    for parent in parents:
        node = node[parent]
    del node[leaf]
    return copy


@pytest.mark.parametrize("key", leaf_keys(yaml.safe_load(PARAMS_TEXT)))
def test_every_missing_key_is_an_error_naming_it(tmp_path, key):
    # No value has a second home in code: a key deleted from params.yaml does not fall back to one.
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(without(yaml.safe_load(PARAMS_TEXT), key)))
    leaf = key.rpartition(".")[2]
    with pytest.raises(ConfigError, match=rf"missing key\(s\) \['{leaf}'\]"):
        load_config(path)


def test_missing_key_fails_with_one_line_before_tensorflow_or_mlflow_is_imported(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(without(yaml.safe_load(PARAMS_TEXT), "train.lr")))
    done = subprocess.run([sys.executable, "-m", "ferpipe.train"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: params.yaml: train: missing key(s) ['lr']; params.yaml must set every key (see conf/)"
    ]
    probe = (
        "import sys; from ferpipe.core.entry import execute; "
        "code = execute('train', lambda: __import__('ferpipe.train.stage', fromlist=['run']).run); "
        "print(code, 'tensorflow' in sys.modules, 'mlflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.split() == ["1", "False", "False"], done.stderr


def test_params_yaml_is_exactly_what_dvc_exp_run_composes_from_conf():
    from omegaconf import OmegaConf

    assert PARAMS_TEXT == OmegaConf.to_yaml(OmegaConf.create(composed())), "run `make params` after editing conf/"


@pytest.mark.parametrize("recipe", sorted(p.stem for p in (REPO_ROOT / "conf/train").glob("*.yaml")))
def test_every_recipe_composes_into_a_complete_config_and_explicit_values_win(recipe):
    config = build(Config, composed(f"train={recipe}"), "conf")
    assert config.train.epochs > 0
    explicit = build(Config, composed(f"train={recipe}", "train.epochs=2", "train.lr=1e-4"), "conf").train
    assert (explicit.epochs, explicit.lr) == (2, 1e-4)
    assert explicit.arch == config.train.arch  # the rest of the recipe stays


def test_mlproject_defaults_are_the_values_in_params_yaml():
    project = yaml.safe_load((REPO_ROOT / "MLproject").read_text())
    values = yaml.safe_load(PARAMS_TEXT)
    for entry_point in project["entry_points"].values():
        command = " ".join(entry_point["command"].split())
        for name, spec in entry_point.get("parameters", {}).items():
            keys = re.findall(rf"-S (\w+(?:\.\w+)+)={{{name}}}", command)
            assert keys, f"MLproject parameter {name} sets no param"
            for key in keys:
                group, leaf = key.split(".")
                value = values[group][leaf]
                default = spec["default"] if isinstance(value, str) else float(spec["default"])
                assert default == value, f"MLproject {name} default {spec['default']!r}, params.yaml {key} {value!r}"


def test_mlproject_commands_run_the_project_code_mlflow_runs():
    # Like the DVC stages: `ferpipe` alone would import the checkout `make setup` installed, not the
    # temporary clone `mlflow run <git URI>` makes (nor a second copy), whose commit MLflow tags the run with.
    project = yaml.safe_load((REPO_ROOT / "MLproject").read_text())
    for name, entry_point in project["entry_points"].items():
        for step in " ".join(entry_point["command"].split()).split("&&"):
            assert step.strip().startswith("PYTHONPATH=src python -m ferpipe "), f"MLproject {name}: {step.strip()}"


@pytest.mark.parametrize(
    "override",
    [
        "train.lr=nan",
        "train.lr=-1",
        "train.lr=.inf",
        "train.lr=1e39",  # finite here, inf in the float32 TensorFlow keeps it in
        "train.epochs=0",
        "train.epochs=-1",
        "train.batch_size=0",
        "train.subset=-5",
        "train.label_smoothing=1.5",
        "train.ema=1",
        "train.weight_decay=-0.1",
        "train.arch=vgg99",
        "train.augment.zoom=-0.2",
        "train.schedule.factor=2",
        "ingest.val_fraction=0",
        "ingest.val_fraction=1",
        "evaluate.batch_size=0",
        "evaluate.bootstrap_samples=0",
        "synthetic.rows.Training=-3",
        "tracking.experiment=' '",
    ],
)
def test_a_value_that_cannot_run_is_refused_naming_its_key(override):
    key, _, value = override.partition("=")
    group, *_, leaf = key.split(".")
    if group == "synthetic":
        leaf = "rows"
    with pytest.raises(ConfigError, match=rf": {group}: .*{leaf}: "):
        params(override)


def test_scientific_notation_from_dvc_set_param_becomes_a_float(tmp_path):
    # `dvc exp run -S ingest.val_fraction=1e-1` writes 1e-1 unquoted; PyYAML reads it as a string.
    path = tmp_path / "params.yaml"
    path.write_text(re.sub(r"^  val_fraction: .*$", "  val_fraction: 1e-1", PARAMS_TEXT, flags=re.M))
    config = load_config(path)
    assert config.ingest.val_fraction == pytest.approx(0.1) and isinstance(config.ingest.val_fraction, float)


def test_unknown_key_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match="valfraction"):
        params("ingest.valfraction=0.2")


def test_choice_outside_its_options_is_rejected():
    with pytest.raises(ConfigError, match="on_bad_rows.*'drop'"):
        params("ingest.on_bad_rows=drop")


def test_non_numeric_value_for_a_number_is_rejected():
    with pytest.raises(ConfigError, match="seed"):
        params("ingest.seed=abc")


def test_overrides_apply_like_dvc_set_params():
    config = params("train.lr=1e-4", "train.epochs=3.0", "train.augment.flip=false")
    assert config.train.lr == 0.0001 and config.train.epochs == 3 and config.train.augment.flip is False


def test_malformed_override_and_fractional_integer_are_rejected():
    with pytest.raises(ConfigError, match="expected group.key=value"):
        params("train.lr")
    with pytest.raises(ConfigError, match="expected an integer"):
        params("train.epochs=2.5")


def test_params_file_that_is_not_yaml_is_one_line_with_line_and_column(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: [0.1\n  epochs: 3\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert re.fullmatch(rf"{re.escape(str(path))}: line \d+, column \d+: not valid YAML \(.+\)", str(raised.value))
