from ferpipe.cli import run

run()
