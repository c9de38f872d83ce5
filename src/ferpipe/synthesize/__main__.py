"""`python -m ferpipe.synthesize`: how dvc.yaml runs the stage."""

from collections.abc import Callable

from ferpipe.core.entry import main


def stage() -> Callable[..., object]:
    from ferpipe.synthesize.stage import run  # once the params are checked

    return run


main("synthesize", stage)
