"""`python -m ferpipe.evaluate`: how dvc.yaml runs the stage."""

from ferpipe.core.entry import main


def stage():
    from ferpipe.evaluate.stage import run  # once the params are checked

    return run


main("evaluate", stage)
