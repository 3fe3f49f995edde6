"""Orchestration: the training pipeline's steps as library functions, dataset URIs, run settings,
the local runner driver, submission to Kubeflow Pipelines and PyTorchJob manifests for multi-GPU
training. components/ and pipelines/ are thin layers over it."""
