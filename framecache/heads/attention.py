"""Learned temporal attention pooling: a weighted mean of the frames whose weights a small network scores.

Each frame is projected to ``hidden`` dimensions and layer-normalised; with ``positional: true`` a sinusoidal
encoding of its time step is added, so both the scores and the pooled vector depend on *when* a frame occurs
and the head can tell a sequence from its reversal (e.g. by attending to the first frames). With
``positional: false`` it is a permutation-invariant pooling, as order-blind as mean pooling. Padded steps get
a score of −∞ and hence zero weight, so padding never changes a video's output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from framecache.heads.masking import sinusoidal_positions, valid_mask
from framecache.heads.neural import TorchHead
from framecache.heads.readout import Classifier


class AttentionPoolNet(nn.Module):
    def __init__(
        self,
        n_features: int,
        hidden: int,
        attention_hidden: int,
        positional: bool,
        dropout: float,
        input_dropout: float,
        residual_pooling: str,
        n_classes: int,
    ):
        super().__init__()
        self.positional = positional
        self.input_dropout = nn.Dropout(input_dropout)
        self.project = nn.Sequential(nn.Linear(n_features, hidden), nn.LayerNorm(hidden))
        self.score = nn.Sequential(nn.Linear(hidden, attention_hidden), nn.Tanh(), nn.Linear(attention_hidden, 1))
        self.classifier = Classifier(hidden, n_features, residual_pooling, dropout, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.project(self.input_dropout(x))
        if self.positional:
            h = h + sinusoidal_positions(h.shape[1], h.shape[2], h.device)[None]
        scores = self.score(h).squeeze(-1).masked_fill(~valid_mask(lengths, h.shape[1]), float("-inf"))
        pooled = torch.einsum("bt,btd->bd", torch.softmax(scores, dim=1), h)
        return self.classifier(pooled, x, lengths)


class AttentionHead(TorchHead):
    """Attention-weighted pooling of projected frames (plus time encodings), then a linear classifier."""

    def __init__(
        self,
        hidden: int = 64,
        attention_hidden: int = 32,
        positional: bool = True,
        dropout: float = 0.3,
        input_dropout: float = 0.3,
        residual_pooling: str = "max",
        lr: float = 0.003,
        weight_decay: float = 0.01,
        warmup_epochs: int = 0,
        label_smoothing: float = 0.0,
        augment_speed: float = 1.0,
        augment_crop: float = 1.0,
        augment_drop: float = 0.0,
        seeds: int = 1,
        hidden_grid: Sequence[int] = (),
        dropout_grid: Sequence[float] = (),
        weight_decay_grid: Sequence[float] = (),
        batch_size: int = 32,
        max_epochs: int = 100,
        patience: int = 5,
        max_len: int | None = None,
        val_fraction: float = 0.2,
        class_weight: str = "none",
        random_state: int = 0,
        device: str = "cpu",
    ):
        self.hidden = hidden
        self.attention_hidden = attention_hidden
        self.positional = positional
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.residual_pooling = residual_pooling
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_epochs = warmup_epochs
        self.label_smoothing = label_smoothing
        self.augment_speed = augment_speed
        self.augment_crop = augment_crop
        self.augment_drop = augment_drop
        self.seeds = seeds
        self.hidden_grid = hidden_grid
        self.dropout_grid = dropout_grid
        self.weight_decay_grid = weight_decay_grid
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.max_len = max_len
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.random_state = random_state
        self.device = device

    def _build_module(self, n_features: int, n_classes: int) -> nn.Module:
        return AttentionPoolNet(
            n_features,
            self.hidden,
            self.attention_hidden,
            self.positional,
            self.dropout,
            self.input_dropout,
            self.residual_pooling,
            n_classes,
        )
