"""`python -m ferpipe.synthesize`: how dvc.yaml runs the stage."""

from ferpipe.core.entry import main


def stage():
    from ferpipe.synthesize.stage import run  # once the params are checked

    return run


main("synthesize", stage)
