"""A small transformer encoder over the frame features — the lectures' "combine transformers and CNNs".

Frames are projected to ``hidden`` dimensions, layer-normalised, given sinusoidal positional encodings (so
order matters) and passed through ``layers`` pre-norm encoder layers whose self-attention ignores padded
steps (``src_key_padding_mask``). The video representation (``readout``) is the mean and/or max of the valid
outputs and/or the output at the last valid step (:mod:`framecache.heads.readout`); padding never changes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from framecache.errors import FramecacheError
from framecache.heads.masking import sinusoidal_positions, valid_mask
from framecache.heads.neural import TorchHead
from framecache.heads.readout import Classifier, read_out, readout_parts


class TransformerNet(nn.Module):
    def __init__(
        self,
        n_features: int,
        hidden: int,
        layers: int,
        num_heads: int,
        feedforward: int,
        dropout: float,
        input_dropout: float,
        readout: Sequence[str],
        residual_pooling: str,
        n_classes: int,
    ):
        super().__init__()
        self.readout = tuple(readout)
        self.input_dropout = nn.Dropout(input_dropout)
        self.project = nn.Sequential(nn.Linear(n_features, hidden), nn.LayerNorm(hidden))
        layer = nn.TransformerEncoderLayer(
            hidden, num_heads, feedforward, dropout=dropout, activation="gelu", batch_first=True, norm_first=True
        )
        # nested tensors would skip padded steps differently in eval mode; masking alone keeps train == eval
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(hidden), enable_nested_tensor=False)
        self.classifier = Classifier(hidden * len(self.readout), n_features, residual_pooling, dropout, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.project(self.input_dropout(x))
        h = h + sinusoidal_positions(h.shape[1], h.shape[2], h.device)[None]
        h = self.encoder(h, src_key_padding_mask=~valid_mask(lengths, h.shape[1]))
        return self.classifier(read_out(h, lengths, self.readout), x, lengths)


class TransformerHead(TorchHead):
    """Transformer encoder with positional encodings, read out by pooling its outputs over time and/or the last
    valid step."""

    def __init__(
        self,
        hidden: int = 64,
        layers: int = 1,
        num_heads: int = 4,
        feedforward: int = 128,
        readout: Sequence[str] = ("mean", "max"),
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
        self.layers = layers
        self.num_heads = num_heads
        self.feedforward = feedforward
        self.readout = readout
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
        if self.hidden % self.num_heads:
            raise FramecacheError(
                f"transformer head: hidden = {self.hidden} is not divisible by num_heads = {self.num_heads}"
            )
        return TransformerNet(
            n_features,
            self.hidden,
            self.layers,
            self.num_heads,
            self.feedforward,
            self.dropout,
            self.input_dropout,
            readout_parts(self.readout),
            self.residual_pooling,
            n_classes,
        )
