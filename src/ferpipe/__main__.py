from ferpipe.cli import app

app()
