"""The training loop and estimator wrapper shared by the PyTorch heads (rnn, lstm, gru, attention, transformer).

A head subclasses :class:`TorchHead` and builds an ``nn.Module`` whose ``forward(x, lengths)`` takes a padded
batch ``(B, T_max, k)`` with each video's true length and returns class logits. Every module masks or packs
by ``lengths``, so padding never changes a video's output: a batch of mixed lengths gives the same
probabilities as each video alone.

Protocol of :meth:`TorchHead.fit`: features are standardised with the mean and spread of the training frames only,
each video as it is padded into a batch (no standardised copy of the data is kept). With ``residual_pooling`` a pooled
head is fitted first (:mod:`framecache.heads.residual`) and frozen inside the net, whose own output starts at zero:
epoch 0 is that pooled head. AdamW (:mod:`framecache.heads.fitting`) minimises (optionally class-weighted,
label-smoothed) cross-entropy on (optionally augmented, :mod:`framecache.heads.sequences`) training videos; after each
epoch the validation loss is measured, training stops after ``patience`` epochs without an improvement (a drop of
more than ``MIN_DELTA``), and the weights of the best epoch are restored. ``seeds`` such fits from different seeds
are averaged. Without a validation split, a stratified part of train is held out for this. Hidden size, dropout and
weight decay are chosen the way pooled heads choose C: one such fit per combination of
``hidden``/``dropout``/``weight_decay`` and their ``*_grid`` values, and the one with the best validation accuracy
at its restored epoch (then the lower validation loss, then the earlier) is kept (``best_params_``, every candidate
in ``grid_``).

Determinism: every fit runs under a forked RNG seeded from ``random_state`` (:func:`framecache.heads.fitting.seeded`);
two CPU fits give identical weights.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from torch import nn

from framecache.compute import resolve_device
from framecache.evaluation.metrics import nll
from framecache.heads.base import (
    check_sequences,
    encode_labels,
    even_subsample,
    holdout,
    selection_key,
)
from framecache.heads.fitting import class_weights, member_seed, optimiser_step, seeded
from framecache.heads.readout import SeedEnsemble
from framecache.heads.residual import fit_residual
from framecache.heads.sequences import Augmentation, frame_statistics, pad

log = logging.getLogger(__name__)

PREDICT_BATCH = 256
# An epoch counts as an improvement only when validation loss drops by more than this: once a head fits the
# validation set, its loss creeps down by tiny amounts for many epochs that change no prediction.
MIN_DELTA = 1e-3
# settings each torch head chooses on validation from ``<name>_grid`` (besides its own value), as pooled heads
# choose C: the regularisation and the width
GRID_SETTINGS = ("hidden", "dropout", "weight_decay")


class TorchHead(ClassifierMixin, BaseEstimator):
    """scikit-learn estimator around a PyTorch sequence model; subclasses implement ``_build_module``."""

    # settings every torch head has; subclasses add theirs in __init__
    hidden: int
    dropout: float
    input_dropout: float
    residual_pooling: str
    lr: float
    weight_decay: float
    warmup_epochs: int
    label_smoothing: float
    augment_speed: float
    augment_crop: float
    augment_drop: float
    seeds: int
    hidden_grid: Sequence[int]
    dropout_grid: Sequence[float]
    weight_decay_grid: Sequence[float]
    batch_size: int
    max_epochs: int
    patience: int
    max_len: int | None
    val_fraction: float
    class_weight: str
    random_state: int
    device: str

    def _build_module(self, n_features: int, n_classes: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------------- data

    def _prepare(self, X: Sequence[np.ndarray], name: str = "X") -> list[np.ndarray]:
        """The checked videos, subsampled to ``max_len``; standardised later, per batch, by :meth:`_pad`."""
        X = check_sequences(X, name, getattr(self, "n_features_in_", None))
        return [even_subsample(x, self.max_len) for x in X]

    def _pad(self, X: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad(X, self.feature_mean_, self.feature_scale_)

    def _batches(
        self, X: list[np.ndarray], order: Sequence[int], augment: Any = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """Padded batches of the videos in ``order``; ``augment`` (a video → its augmented copy) in training."""
        for start in range(0, len(order), self.batch_size):
            idx = np.asarray(order[start : start + self.batch_size])
            videos = [X[i] if augment is None else augment(X[i]) for i in idx]
            x, lengths = self._pad(videos)
            yield idx, x, lengths

    # ---------------------------------------------------------------------------------------------- fit

    def _split(
        self, X: list[np.ndarray], y_idx: np.ndarray, X_val: Sequence[np.ndarray] | None, y_val: Sequence | None
    ) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray]:
        """``(X_fit, y_fit, X_val, y_val)``: the given validation split (its classes unknown to train dropped),
        or else a stratified hold-out of train."""
        if X_val is not None and y_val is not None and len(X_val) > 0:
            X_val = check_sequences(X_val, "X_val", self.n_features_in_)
            _, y_val_idx = encode_labels(y_val, self.classes_)
            keep = np.flatnonzero(y_val_idx >= 0)
            return X, y_idx, [X_val[i] for i in keep], y_val_idx[keep]
        fit_idx, val_idx = holdout(y_idx, self.val_fraction, self.random_state)
        return [X[i] for i in fit_idx], y_idx[fit_idx], [X[i] for i in val_idx], y_idx[val_idx]

    def _epoch(self, module: nn.Module, batches: Iterator, y: torch.Tensor, step: Any) -> float:
        """One pass over the training ``batches``; ``step(x, lengths, y)`` returns the batch loss."""
        module.train()
        total, count = 0.0, 0
        for idx, x, lengths in batches:
            loss = step(x, lengths, y[idx])
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        return total / count

    def _score(
        self, module: nn.Module, X_val: list[np.ndarray], y_val: np.ndarray, device: torch.device, train_loss: float
    ) -> dict[str, float]:
        """Validation loss and accuracy after an epoch; without validation videos, the training loss stands in."""
        if not len(X_val):
            return {"val_loss": train_loss, "val_accuracy": float("nan")}
        proba = self._proba(module, X_val, device)
        return {"val_loss": nll(proba, y_val), "val_accuracy": float(np.mean(np.argmax(proba, axis=1) == y_val))}

    def candidates(self) -> list[dict[str, Any]]:
        """The settings validation chooses among: every combination of each of :data:`GRID_SETTINGS` with
        the values of its ``<name>_grid`` (the setting's own value first; duplicates tried once)."""
        axes = {
            name: list(dict.fromkeys([getattr(self, name), *getattr(self, f"{name}_grid")])) for name in GRID_SETTINGS
        }
        return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]

    def fit(
        self,
        X: Sequence[np.ndarray],
        y: Sequence,
        X_val: Sequence[np.ndarray] | None = None,
        y_val: Sequence | None = None,
    ) -> TorchHead:
        X = check_sequences(X)
        self.n_features_in_ = X[0].shape[1]
        self.classes_, y_idx = encode_labels(y)
        X_fit, y_fit, X_val, y_val_idx = self._split(X, y_idx, X_val, y_val)
        # standardisation from the frames of the videos the weights are fitted on, never validation or test
        self.feature_mean_, self.feature_scale_ = frame_statistics(X_fit, self.max_len)
        self.truncated_ = sum(len(x) > self.max_len for x in X) if self.max_len else 0
        X_fit = self._prepare(X_fit)
        X_val = self._prepare(X_val, "X_val") if len(X_val) else []
        self.residual_ = None
        if self.residual_pooling != "none":
            self.residual_ = fit_residual(
                self.residual_pooling, X_fit, y_fit, X_val, y_val_idx, len(self.classes_),
                (self.feature_mean_, self.feature_scale_), class_weight=self.class_weight,
                random_state=self.random_state,
            )  # fmt: skip
        device = resolve_device(self.device, "train.device")
        grid: list[dict[str, Any]] = []
        best: tuple[Any, ...] | None = None
        for order, candidate in enumerate(self.candidates()):
            module, history, best_epoch = self._train(candidate, X_fit, y_fit, X_val, y_val_idx, device)
            restored = next((row for row in history if row["step"] == best_epoch), history[-1])
            scores = {k: restored[k] for k in ("train_loss", "val_loss", "val_accuracy")}
            if self.seeds > 1 and len(X_val):  # the ensemble's own validation scores
                scores.update(self._score(module, X_val, y_val_idx, device, np.nan))
            grid.append({"step": order, **candidate, **scores, "epoch": best_epoch, "epochs_run": len(history)})
            acc, loss = np.nan_to_num(scores["val_accuracy"], nan=0.0), np.nan_to_num(scores["val_loss"], nan=np.inf)
            key = selection_key(acc, loss, order)
            if best is None or key < best[0]:
                best = (key, candidate, module, history, best_epoch)
        assert best is not None
        _, self.best_params_, module, self.history_, self.best_epoch_ = best
        self.grid_ = grid
        # kept on CPU so the pickled model loads anywhere; prediction moves it to the device for the call
        self.module_ = module.cpu().eval()
        self.n_parameters_ = int(sum(p.numel() for p in module.parameters() if p.requires_grad))
        return self

    def _train(
        self,
        candidate: dict[str, Any],
        X_fit: list[np.ndarray],
        y_fit: np.ndarray,
        X_val: list[np.ndarray],
        y_val_idx: np.ndarray,
        device: torch.device,
    ) -> tuple[nn.Module, list[dict[str, Any]], int]:
        """``seeds`` early-stopped fits with ``candidate``'s settings: ``(their ensemble, the first one's history
        per epoch, its best epoch)``. The ensemble's validation scores are the candidate's."""
        fits = [self._train_member(candidate, X_fit, y_fit, X_val, y_val_idx, device, m) for m in range(self.seeds)]
        return SeedEnsemble([module for module, _, _ in fits]), fits[0][1], fits[0][2]

    def _train_member(
        self,
        candidate: dict[str, Any],
        X_fit: list[np.ndarray],
        y_fit: np.ndarray,
        X_val: list[np.ndarray],
        y_val_idx: np.ndarray,
        device: torch.device,
        member: int,
    ) -> tuple[nn.Module, list[dict[str, Any]], int]:
        """One early-stopped fit: ``(module with the best epoch's weights, history per epoch, best epoch)``. With a
        residual pooled head the untrained net (epoch 0) is that pooled head, and it is kept if no epoch beats it."""
        seed = member_seed(self.random_state, member)

        def score(train_loss: float) -> dict[str, float]:
            return self._score(module, X_val, y_val_idx, device, train_loss)

        with seeded(seed, device):
            module = clone(self).set_params(**candidate)._build_module(self.n_features_in_, len(self.classes_))
            module = module.to(device)
            history: list[dict[str, Any]] = []
            best_loss, best_state, best_epoch, waited = math.inf, None, 0, 0
            if self.residual_ is not None:
                module.classifier.set_residual(*map(torch.from_numpy, (self.residual_.weight, self.residual_.bias)))
                train_loss = self._score(module, X_fit, y_fit, device, np.nan)["val_loss"]
                history.append({"step": 0, "train_loss": train_loss, **score(train_loss)})
                best_loss, best_state = history[0]["val_loss"], copy.deepcopy(module.state_dict())
            step = optimiser_step(
                module, lr=self.lr, weight_decay=candidate["weight_decay"], label_smoothing=self.label_smoothing,
                class_weights=class_weights(self.class_weight, y_fit, len(self.classes_)), device=device,
                warmup_steps=self.warmup_epochs * math.ceil(len(X_fit) / self.batch_size),
            )  # fmt: skip
            generator, rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
            augmentation = Augmentation(self.augment_speed, self.augment_crop, self.augment_drop)
            augment = (lambda x: augmentation(x, rng)) if augmentation.active else None
            y_fit_t = torch.as_tensor(y_fit, dtype=torch.int64)
            for epoch in range(1, self.max_epochs + 1):
                order = torch.randperm(len(X_fit), generator=generator).tolist()
                train_loss = self._epoch(module, self._batches(X_fit, order, augment), y_fit_t, step)
                history.append({"step": epoch, "train_loss": train_loss, **score(train_loss)})
                if history[-1]["val_loss"] < best_loss - MIN_DELTA:
                    best_loss, best_epoch, waited = history[-1]["val_loss"], epoch, 0
                    best_state = copy.deepcopy(module.state_dict())
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
            if best_state is not None:
                module.load_state_dict(best_state)
        return module, history, best_epoch

    # ---------------------------------------------------------------------------------------------- predict

    def _proba(self, module: nn.Module, X: list[np.ndarray], device: torch.device) -> np.ndarray:
        module.eval()
        out = np.zeros((len(X), len(self.classes_)), dtype=np.float64)
        # batches of similar length waste little on padding; the answer does not depend on the grouping
        order = np.argsort([len(x) for x in X], kind="stable")
        with torch.no_grad():
            for start in range(0, len(X), PREDICT_BATCH):
                idx = order[start : start + PREDICT_BATCH]
                x, lengths = self._pad([X[i] for i in idx])
                logits = module(x.to(device), lengths.to(device))
                out[idx] = torch.softmax(logits.double(), dim=1).cpu().numpy()
        return out / out.sum(axis=1, keepdims=True)

    def predict_proba(self, X: Sequence[np.ndarray]) -> np.ndarray:
        X = self._prepare(X)
        # a model trained on a GPU still predicts on a machine without one
        device = resolve_device(
            "auto" if self.device == "cuda" and not torch.cuda.is_available() else self.device, "train.device"
        )
        module = self.module_.to(device)
        try:
            return self._proba(module, X, device)
        finally:
            self.module_ = module.cpu()

    def predict(self, X: Sequence[np.ndarray]) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
