"""TorchServe's entry point, copied into the model archive by `tryon.serve.export`.

It holds no logic: `handle` comes from the installed `tryon` package (`tryon.serve.torchserve`).
"""

from tryon.serve.torchserve import handle

__all__ = ["handle"]
