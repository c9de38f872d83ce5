"""`python -m ferpipe.train`: how dvc.yaml runs the stage."""

from collections.abc import Callable

from ferpipe.core.entry import main


def stage() -> Callable[..., object]:
    from ferpipe.train.stage import run  # once the params are checked

    return run


main("train", stage)
