"""Masking and positions over padded batches ``(B, T_max, d)`` of videos of different lengths: what the torch
heads' modules use so that padding never changes a video's output."""

from __future__ import annotations

import math

import torch


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """``(length, dim)`` sinusoidal encodings of time steps 0..length-1 (Vaswani et al.); any length works."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    half = (dim + 1) // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32, device=device) * (-math.log(10000.0) / max(half, 1)))
    angles = position * freq[None, :]
    pe = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    return pe[:, :dim]


def valid_mask(lengths: torch.Tensor, t_max: int) -> torch.Tensor:
    """``(B, T_max)`` bool, True on each video's real time steps."""
    return torch.arange(t_max, device=lengths.device)[None, :] < lengths[:, None]


def masked_mean(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of ``h`` ``(B, T, d)`` over each video's valid steps only."""
    mask = valid_mask(lengths, h.shape[1]).to(h.dtype)[..., None]
    return (h * mask).sum(dim=1) / lengths.to(h.dtype)[:, None]


def masked_extreme(h: torch.Tensor, lengths: torch.Tensor, largest: bool = True) -> torch.Tensor:
    """Maximum (``largest``) or minimum of ``h`` ``(B, T, d)`` over each video's valid steps only."""
    invalid = ~valid_mask(lengths, h.shape[1])[..., None]
    fill = float("-inf") if largest else float("inf")
    filled = h.masked_fill(invalid, fill)
    return filled.amax(dim=1) if largest else filled.amin(dim=1)


def last_valid(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each video's output at its last valid step, ``(B, d)``."""
    return h[torch.arange(h.shape[0], device=h.device), lengths - 1]
