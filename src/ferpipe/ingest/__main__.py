"""`python -m ferpipe.ingest`: how dvc.yaml runs the stage."""

from ferpipe.core.entry import main


def stage():
    from ferpipe.ingest.stage import run  # once the params are checked

    return run


main("ingest", stage)
