"""The learning rate each epoch trains at, under the cosine and one-cycle schedules."""

from dataclasses import replace
from itertools import pairwise

import pytest

from ferpipe.train.recipe import epoch_lr
from tests.conftest import config_of


def recipe(kind: str, epochs: int, warmup: float = 0.3):
    train = config_of("train", lr=0.05, epochs=epochs)
    return replace(train, schedule=replace(train.schedule, kind=kind, min_lr=1e-5, warmup=warmup))


def test_cosine_runs_from_lr_at_the_first_epoch_to_min_lr_at_the_last():
    rates = [epoch_lr(recipe("cosine", 10), epoch) for epoch in range(10)]
    assert rates[0] == pytest.approx(0.05) and rates[-1] == pytest.approx(1e-5)
    assert all(a > b for a, b in pairwise(rates))


@pytest.mark.parametrize("epochs", [10, 24, 30])
def test_one_cycle_rises_to_lr_over_the_warmup_then_descends_to_min_lr(epochs):
    rates = [epoch_lr(recipe("one_cycle", epochs), epoch) for epoch in range(epochs)]
    peak = rates.index(max(rates))
    assert peak == round(0.3 * epochs) and rates[peak] == pytest.approx(0.05)
    assert all(a < b for a, b in pairwise(rates[: peak + 1]))  # rising, from above zero
    assert rates[0] > 0.05 / (peak + 2)
    assert all(a > b for a, b in pairwise(rates[peak:])) and rates[-1] == pytest.approx(1e-5)


def test_one_cycle_without_warmup_is_cosine():
    assert [epoch_lr(recipe("one_cycle", 12, warmup=0.0), e) for e in range(12)] == [
        epoch_lr(recipe("cosine", 12), e) for e in range(12)
    ]
