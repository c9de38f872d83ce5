"""`python -m ferpipe.evaluate`: how dvc.yaml runs the stage."""

from collections.abc import Callable

from ferpipe.core.entry import main


def stage() -> Callable[..., object]:
    from ferpipe.evaluate.stage import run  # once the params are checked

    return run


main("evaluate", stage)
