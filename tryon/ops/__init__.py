"""Pure tensor geometry for ACGPN: TPS warps, pose maps, mask morphology and layout composition.

Everything here runs on the tensors' device without host round-trips, so the training step and
the serving path can call it inside autocast, torch.compile and CUDA graphs alike.
"""
