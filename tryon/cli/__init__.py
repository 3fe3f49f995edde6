"""The `tryon` command line: a thin layer over the package.

Each command group lives in its own module and registers itself on the shared application when
imported. Heavy modules (torch, OpenCV) are imported inside the commands so that `tryon --help`
stays instant.
"""

from tryon.cli import data, run  # noqa: F401  (registers the commands)
from tryon.cli.app import app

__all__ = ["app"]
