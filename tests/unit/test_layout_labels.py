"""`layout_labels` is the argmax over the channels, ties and NaN included."""

from __future__ import annotations

import torch

from tryon.ops.composition import layout_labels


def test_layout_labels_are_the_channel_argmax_with_the_first_of_tied_maxima():
    torch.manual_seed(0)
    logits = torch.randint(0, 3, (2, 20, 16, 12)).float()  # many ties
    logits[0, 5, 3, 3] = float("nan")
    labels = layout_labels(logits)
    assert labels.shape == (2, 1, 16, 12) and labels.dtype == torch.long
    assert torch.equal(labels, logits.argmax(dim=1, keepdim=True))
    assert labels[0, 0, 3, 3] == 5
    channels_last = logits.contiguous(memory_format=torch.channels_last)
    assert torch.equal(layout_labels(channels_last), labels)
