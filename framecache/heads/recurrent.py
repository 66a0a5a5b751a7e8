"""Recurrent heads: vanilla (tanh) RNN, LSTM and GRU over the frame features.

Variable lengths are handled by packing (``pack_padded_sequence``), so the recurrence never steps over
padding: the ``last`` readout is each video's final real state (for a bidirectional net, the forward state
after the last frame joined with the backward state after the first), and ``mean`` / ``max`` pool the outputs
of the real steps only (:mod:`framecache.heads.readout`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from framecache.heads.neural import TorchHead
from framecache.heads.readout import Classifier, read_out, readout_parts

_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentNet(nn.Module):
    def __init__(
        self,
        cell: str,
        n_features: int,
        hidden: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
        input_dropout: float,
        readout: Sequence[str],
        residual_pooling: str,
        n_classes: int,
    ):
        super().__init__()
        self.cell, self.readout, self.layers = cell, tuple(readout), layers
        self.directions = 2 if bidirectional else 1
        self.input_dropout = nn.Dropout(input_dropout)
        extra = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = _CELLS[cell](
            n_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
            bidirectional=bidirectional,
            **extra,
        )
        width = hidden * self.directions * len(self.readout)
        self.classifier = Classifier(width, n_features, residual_pooling, dropout, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.input_dropout(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, state = self.rnn(packed)
        padded, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])
        last = None
        if "last" in self.readout:
            h_n = state[0] if self.cell == "lstm" else state  # (layers * directions, B, hidden), batch order kept
            top = h_n.view(self.layers, self.directions, h_n.shape[1], h_n.shape[2])[-1]
            last = torch.cat(list(top), dim=1)
        lengths = lengths.to(x.device)
        return self.classifier(read_out(padded, lengths, self.readout, last), x, lengths)


class RecurrentHead(TorchHead):
    """A recurrent net over the frames, classified from its last state and/or its outputs pooled over time."""

    cell = "lstm"

    def __init__(
        self,
        hidden: int = 64,
        layers: int = 1,
        bidirectional: bool = True,
        readout: Sequence[str] = ("last", "mean", "max"),
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
        self.bidirectional = bidirectional
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
        return RecurrentNet(
            self.cell,
            n_features,
            self.hidden,
            self.layers,
            self.bidirectional,
            self.dropout,
            self.input_dropout,
            readout_parts(self.readout),
            self.residual_pooling,
            n_classes,
        )


class RNNHead(RecurrentHead):
    """Vanilla tanh RNN."""

    cell = "rnn"


class LSTMHead(RecurrentHead):
    """Long short-term memory."""

    cell = "lstm"


class GRUHead(RecurrentHead):
    """Gated recurrent unit."""

    cell = "gru"
