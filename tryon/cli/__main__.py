"""`python -m tryon.cli`."""

from tryon.cli import app

app()
