"""`python -m ferpipe.train`: how dvc.yaml runs the stage."""

from ferpipe.core.entry import main


def stage():
    from ferpipe.train.stage import run  # once the params are checked

    return run


main("train", stage)
