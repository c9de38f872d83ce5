import pytest

from ferpipe.core.config import Config, ConfigError, build, load_config


def test_scientific_notation_from_dvc_set_param_becomes_a_float(tmp_path):
    # `dvc exp run -S ingest.val_fraction=1e-1` writes 1e-1 unquoted; PyYAML reads it as a string.
    params = tmp_path / "params.yaml"
    params.write_text("ingest:\n  val_fraction: 1e-1\n")
    config = load_config(params)
    assert config.ingest.val_fraction == pytest.approx(0.1)
    assert isinstance(config.ingest.val_fraction, float)


def test_unknown_key_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match="valfraction"):
        build(Config, {"ingest": {"valfraction": 0.2}}, "params.yaml")


def test_choice_outside_its_options_is_rejected():
    with pytest.raises(ConfigError, match="on_bad_rows.*'drop'"):
        build(Config, {"ingest": {"on_bad_rows": "drop"}}, "params.yaml")


def test_non_numeric_value_for_a_number_is_rejected():
    with pytest.raises(ConfigError, match="seed"):
        build(Config, {"ingest": {"seed": "abc"}}, "params.yaml")


def test_repository_params_file_loads(tmp_path):
    from tests.conftest import REPO_ROOT

    config = load_config(REPO_ROOT / "params.yaml")
    assert config.ingest.source == "data/raw/fer2013.csv"
    assert sum(config.synthetic.rows.values()) > 0


def test_overrides_apply_like_dvc_set_params(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  lr: 0.001\n  epochs: 14\n")
    config = load_config(params, ["train.lr=1e-4", "train.epochs=3.0", "train.augment.flip=false"])
    assert config.train.lr == 0.0001 and config.train.epochs == 3 and config.train.augment.flip is False


def test_malformed_override_and_fractional_integer_are_rejected(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("{}\n")
    with pytest.raises(ConfigError, match="expected group.key=value"):
        load_config(params, ["train.lr"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(params, ["train.epochs=2.5"])


def test_auto_preset_trains_a_small_model_on_synthetic_data_and_the_recipe_on_real_data():
    from ferpipe.core.config import TrainConfig

    recipe = TrainConfig(preset="auto", arch="alexnet_seed", epochs=14, lr=5e-4)
    smoke = recipe.resolved("synthetic")
    assert (smoke.preset, smoke.arch, smoke.epochs) == ("smoke", "tiny_cnn", 10)
    assert smoke.lr == 5e-4  # what a smoke run keeps from params.yaml, `dvc exp run -S train.lr=...` included
    real = recipe.resolved("real")
    assert (real.preset, real.arch, real.epochs) == ("none", "alexnet_seed", 14)


def test_preset_names_the_configured_values_it_replaces():
    from ferpipe.core.config import TrainConfig

    # `dvc exp run -S train.preset=cpu_session -S train.epochs=30` trains 16 epochs: the log must say so.
    config = TrainConfig(preset="cpu_session", arch="vgg_small", epochs=30, lr=1e-3, batch_size=128)
    overrides = config.preset_overrides()
    assert overrides["epochs"] == (30, 16)
    assert overrides["batch_size"] == (128, 64)
    assert "arch" not in overrides and "lr" not in overrides  # already what the preset sets
    assert TrainConfig(preset="none", epochs=30).preset_overrides() == {}
    assert TrainConfig(preset="auto", epochs=30).preset_overrides("synthetic")["epochs"] == (30, 10)
