"""The pieces of one torch fit that do not depend on the head: the seeded RNG around it, the seeds of an ensemble's
members, and the optimisation step (AdamW on class-weighted, label-smoothed cross-entropy with a linear warm-up).

Determinism: a fit runs under a forked RNG seeded from its seed (the caller's global torch RNG is left untouched)
and, on CPU, with ``torch.use_deterministic_algorithms``; two CPU fits give identical weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from framecache.heads.base import balanced_weights

# ensemble members' seeds are this far apart (see member_seed)
SEED_STRIDE = 10_007

Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch inside the block without disturbing the caller's RNG or determinism setting."""
    devices = [device.index or 0] if device.type == "cuda" else []
    previous = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        # CUDA determinism would need CUBLAS_WORKSPACE_CONFIG set before CUDA starts; GPU runs are seeded
        # but may differ in the last bits, CPU runs are exact.
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)


def member_seed(random_state: int, member: int) -> int:
    """The seed of ensemble member ``member``: member 0 is ``random_state`` itself; the others lie far from the
    seeds of the train stage's repeats (``seed + repeat``)."""
    return random_state + SEED_STRIDE * member


def optimiser_step(
    module: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    label_smoothing: float,
    class_weights: np.ndarray | None,
    warmup_steps: int,
    device: torch.device,
) -> Step:
    """``step(x, lengths, target)``: one AdamW update of ``module`` on the (class-weighted, label-smoothed)
    cross-entropy, the learning rate rising linearly over the first ``warmup_steps``; returns the batch loss."""
    weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32, device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)
    optimiser = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    taken = [0]  # updates so far

    def step(x: torch.Tensor, lengths: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if taken[0] < warmup_steps:  # set by hand: torch's LambdaLR would load torch._dynamo (seconds, ~40 MB)
            for group in optimiser.param_groups:
                group["lr"] = lr * (taken[0] + 1) / warmup_steps
        loss = loss_fn(module(x.to(device), lengths.to(device)), target.to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        taken[0] += 1
        return loss

    return step


def class_weights(kind: str, y_fit: np.ndarray, n_classes: int) -> np.ndarray | None:
    """The loss's class weights: scikit-learn's ``balanced`` ones, or None (every class 1)."""
    return balanced_weights(y_fit, n_classes) if kind == "balanced" else None
