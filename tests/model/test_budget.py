"""`ferpipe budget`: the epochs of a recipe that fit in a wall-clock budget, measured here and
handed back as the `dvc exp run` command that trains them (the run itself stays deterministic)."""

import re
import shutil

import pytest
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.core.config import load_config
from ferpipe.tools import budget
from ferpipe.tools.budget import EpochTime, composed, epochs_within
from tests.conftest import REPO_ROOT


def test_epochs_are_the_whole_ones_that_fit():
    epoch = EpochTime(step_seconds=0.5, steps=100, val_seconds=10, measured_on="")  # one minute an epoch
    assert epochs_within(60, epoch) == 60 and epochs_within(59.9, epoch) == 59 and epochs_within(0.9, epoch) == 0


@pytest.mark.parametrize("step_seconds", [0.00118, 0.0118, 0.9, 3.37])  # epochs of 0.36 s to 17 minutes
def test_the_printed_epoch_time_agrees_with_the_epochs_proposed(monkeypatch, step_seconds):
    measured = EpochTime(step_seconds=step_seconds, steps=300, val_seconds=0.0044, measured_on="faces")
    monkeypatch.setattr(budget, "measure_epoch", lambda config, arrays: measured)
    epochs, told = budget.plan(120, load_config(REPO_ROOT / "params.yaml").train, [])
    printed = float(re.search(r"= ([\d.]+) s an epoch", told).group(1))
    assert printed == pytest.approx(measured.seconds, rel=0.005)
    assert f"train.epochs={epochs}" in told and epochs == int(120 * 60 / measured.seconds)


@pytest.mark.slow  # TensorFlow trains a few steps
def test_the_printed_command_trains_the_epochs_measured_for_the_recipe_asked(workspace):
    shutil.copytree(REPO_ROOT / "conf", workspace / "conf")
    asked = ["train=seed_recipe", "train.arch=tiny_cnn", "train.batch_size=32"]
    result = CliRunner().invoke(app, ["budget", "2", *(f"-S{o}" for o in asked)])
    assert result.exit_code == 0, result.output
    assert "tiny_cnn, batch 32:" in result.output and "synthetic training faces" in result.output
    seconds = float(re.search(r"= ([\d.]+) s an epoch", result.output).group(1))
    (command,) = [line for line in result.output.splitlines() if "dvc exp run" in line]
    overrides = re.findall(r"-S (\S+)", command)
    assert overrides[:3] == asked
    config = composed(overrides).train
    assert config.epochs >= 1 and config.epochs == pytest.approx(120 / seconds, rel=0.1, abs=1)
    assert config.loss == "binary_crossentropy"  # the recipe asked for is the one measured and run


@pytest.mark.slow  # composes the recipes with Hydra
def test_an_unknown_recipe_is_one_line(workspace):
    shutil.copytree(REPO_ROOT / "conf", workspace / "conf")
    result = CliRunner().invoke(app, ["budget", "60", "-S", "train=no_such_recipe"])
    assert result.exit_code == 1 and "no_such_recipe" in result.output and len(result.output.splitlines()) == 1


def test_a_candidate_fits_the_reference_recipes_time_or_says_by_how_much_not(monkeypatch):
    seconds = {"vgg_small": 100.0, "tiny_cnn": 20.0}  # an epoch of each, as measured here
    monkeypatch.setattr(
        budget,
        "measure_epoch",
        lambda config, arrays: EpochTime(
            step_seconds=seconds[config.arch] / 100, steps=100, val_seconds=0.0, measured_on="faces"
        ),
    )
    from dataclasses import replace

    base = load_config(REPO_ROOT / "params.yaml").train
    session = replace(base, arch="vgg_small", epochs=16)  # 1,600 s
    ok, told = budget.fits(session, replace(base, arch="tiny_cnn", epochs=80), "cpu_session")
    assert ok and "16 epochs x 100 s = 26.7 min" in told and "80 epochs x 20.0 s = 26.7 min: fits (100%" in told
    ok, told = budget.fits(session, replace(base, arch="tiny_cnn", epochs=81), "cpu_session")
    assert not ok and "does not fit (101% of the budget; 80 epochs would fit)" in told
