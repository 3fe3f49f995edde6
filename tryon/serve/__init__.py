"""Serving: avatars, request handling as plain functions, the try-on service, the model archive.

Nothing here depends on a particular server except `tryon.serve.torchserve` (and the entry file
`tryon.serve.handler` that the archive holds), which adapts TorchServe's calls to `TryOnService`.
"""
