"""The classifier end every torch head shares: how a video's representation is read out of the net's per-step
outputs, and a linear path from the pooled input frames straight to the class logits.

``readout`` names the parts concatenated into the representation: ``last`` (the net's state after the last valid
frame; for a transformer, its output at that step), ``mean`` and ``max`` (of the per-step outputs over each
video's valid steps). Pooling the outputs over time keeps what a pooled head sees within reach of the net, where
the last state alone must carry everything through the recurrence.

With a residual pooling (``residual_pooling``), the logits of a pooled head — logistic regression on the mean /
max / min / max-min of the frames, fitted before the net (:mod:`framecache.heads.residual`) and frozen — are
added to the net's, and the net's output layer starts at zero: before its first step the temporal head *is* the
pooled head, and training only has to learn what frame order adds (a residual path, as in He et al. 2016; Ng et
al. 2015 found LSTMs on frozen frame features to match pooling only when trained with care). Every pooling
ignores padded steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from framecache.heads.masking import last_valid, masked_extreme, masked_mean

READOUTS = ("last", "mean", "max")


def readout_parts(readout: str | Sequence[str]) -> tuple[str, ...]:
    """A ``readout`` setting as a tuple of parts (one name alone, as params files before lists wrote it)."""
    return (readout,) if isinstance(readout, str) else tuple(readout)


def pool_steps(h: torch.Tensor, lengths: torch.Tensor, how: str) -> torch.Tensor:
    """``(B, d)``: the mean, max or min of ``h`` ``(B, T, d)`` over each video's valid steps; ``(B, 2d)`` for
    ``maxmin`` (max ‖ min)."""
    if how == "mean":
        return masked_mean(h, lengths)
    if how == "maxmin":
        return torch.cat([masked_extreme(h, lengths), masked_extreme(h, lengths, largest=False)], dim=1)
    return masked_extreme(h, lengths, largest=how == "max")


def read_out(
    h: torch.Tensor, lengths: torch.Tensor, readout: Sequence[str], last: torch.Tensor | None = None
) -> torch.Tensor:
    """The parts of ``readout`` concatenated, ``(B, d · len(readout))``; ``last`` defaults to the output at each
    video's last valid step."""
    parts = []
    for how in readout:
        if how == "last":
            parts.append(last_valid(h, lengths) if last is None else last)
        else:
            parts.append(pool_steps(h, lengths, how))
    return torch.cat(parts, dim=1)


class Classifier(nn.Module):
    """Dropout and a linear layer on the representation, plus the frozen pooled head's logits when there is one
    (``residual_pooling`` not ``none``); the output layer then starts at zero."""

    def __init__(self, width: int, n_features: int, residual_pooling: str, dropout: float, n_classes: int):
        super().__init__()
        self.residual_pooling = residual_pooling
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(width, n_classes)
        if residual_pooling != "none":
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            width_in = n_features * (2 if residual_pooling == "maxmin" else 1)
            # buffers, not parameters: the pooled head is fitted by logistic regression and stays as fitted
            self.register_buffer("residual_weight", torch.zeros(n_classes, width_in))
            self.register_buffer("residual_bias", torch.zeros(n_classes))

    def set_residual(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.residual_weight.copy_(weight)
        self.residual_bias.copy_(bias)

    def forward(self, rep: torch.Tensor, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits from the representation ``rep``; ``x`` is the standardised input (no dropout) the pooled head
        reads."""
        logits = self.out(self.dropout(rep))
        if self.residual_pooling != "none":
            pooled = pool_steps(x, lengths, self.residual_pooling)
            logits = logits + pooled @ self.residual_weight.T + self.residual_bias
        return logits


class SeedEnsemble(nn.Module):
    """Copies of one net trained from different seeds: the log of their mean probabilities (softmax of the output
    is the average prediction). One member returns its own logits unchanged."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if len(self.members) == 1:
            return self.members[0](x, lengths)
        log_p = torch.stack([torch.log_softmax(m(x, lengths), dim=1) for m in self.members])
        return torch.logsumexp(log_p, dim=0) - math.log(len(self.members))
