"""Frame pooling followed by a linear classifier: the static (and dynamic Δ) baselines.

Each video's ``(T, k)`` features are pooled into one descriptor (see :mod:`framecache.heads.pooling`), standardised
with statistics of the training videos only, and classified by multinomial logistic regression. The inverse
regularisation C is chosen from ``C_grid`` on the validation split; without one, part of train is held out
(stratified) for the choice and the chosen model is then refitted on all of train.

:class:`DescriptorHead` holds that grid-selection protocol; the SVM head reuses it with another estimator.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from framecache.evaluation.metrics import nll, spread_proba
from framecache.heads.base import check_sequences, encode_labels, holdout, selection_key
from framecache.heads.pooling import pool

log = logging.getLogger(__name__)


class DescriptorHead(ClassifierMixin, BaseEstimator):
    """Pool, then pick the best of a grid of scikit-learn classifiers on validation data.

    Subclasses define ``_candidates(n_features)`` (hyper-parameter dicts, in grid order) and
    ``_make(candidate, y_fit)`` (an unfitted estimator with ``predict_proba``).
    """

    pooling: str
    delta_step: int
    val_fraction: float
    random_state: int

    def _candidates(self, n_features: int) -> list[dict[str, float]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _make(self, candidate: dict[str, float], y_fit: np.ndarray) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _count_parameters(self, estimator: Any) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _descriptors(self, X: Sequence[np.ndarray], name: str = "X") -> np.ndarray:
        k = getattr(self, "n_features_in_", None)
        return pool(check_sequences(X, name, k), self.pooling, self.delta_step)

    def _full_proba(self, estimator: Any, D: np.ndarray) -> np.ndarray:
        """Probabilities over all of ``classes_`` (a class missing from a hold-out fit gets 0)."""
        return spread_proba(estimator.predict_proba(D), estimator.classes_, len(self.classes_))

    def fit(
        self,
        X: Sequence[np.ndarray],
        y: Sequence,
        X_val: Sequence[np.ndarray] | None = None,
        y_val: Sequence | None = None,
    ) -> DescriptorHead:
        X = check_sequences(X)
        self.n_features_in_ = X[0].shape[1]
        self.classes_, y_idx = encode_labels(y)
        D = self._descriptors(X)
        self.n_descriptor_features_ = D.shape[1]
        refit = False
        if X_val is not None and y_val is not None and len(X_val) > 0:
            D_val = self._descriptors(X_val, "X_val")
            _, y_val_idx = encode_labels(y_val, self.classes_)
            known = y_val_idx >= 0
            D_val, y_val_idx = D_val[known], y_val_idx[known]
            D_fit, y_fit = D, y_idx
        else:
            fit_idx, val_idx = holdout(y_idx, self.val_fraction, self.random_state)
            D_fit, y_fit, D_val, y_val_idx = D[fit_idx], y_idx[fit_idx], D[val_idx], y_idx[val_idx]
            refit = len(fit_idx) < len(y_idx)

        history: list[dict[str, Any]] = []  # one row per candidate: what selection.csv shows
        best: tuple[tuple[float, float, int], dict[str, float], Any] | None = None
        for step, cand in enumerate(self._candidates(D.shape[1])):
            est = self._fit_quietly(self._make(cand, y_fit), D_fit, y_fit)
            p_val = self._full_proba(est, D_val)
            val_acc = float(np.mean(np.argmax(p_val, axis=1) == y_val_idx)) if len(y_val_idx) else float("nan")
            val_loss = nll(p_val, y_val_idx) if len(y_val_idx) else float("nan")
            history.append(
                {
                    "step": step,
                    **cand,
                    "train_loss": nll(self._full_proba(est, D_fit), y_fit),
                    "val_loss": val_loss,
                    "val_accuracy": val_acc,
                }
            )
            key = selection_key(np.nan_to_num(val_acc, nan=0.0), np.nan_to_num(val_loss, nan=np.inf), step)
            if best is None or key < best[0]:
                best = (key, cand, est)
        assert best is not None
        _, self.best_params_, estimator = best
        if refit:
            estimator = self._fit_quietly(self._make(self.best_params_, y_idx), D, y_idx)
        self.estimator_ = estimator
        self.grid_ = history
        self.n_parameters_ = int(self._count_parameters(estimator))
        return self

    def _fit_quietly(self, est: Any, D: np.ndarray, y: np.ndarray) -> Any:
        # Weak regularisation on separable data stops lbfgs at max_iter; the grid search judges the result
        # on validation anyway, so note it once rather than flood the log.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            est.fit(D, y)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            log.debug("%s: solver did not fully converge for %s", type(self).__name__, est)
        return est

    def predict_proba(self, X: Sequence[np.ndarray]) -> np.ndarray:
        p = self._full_proba(self.estimator_, self._descriptors(X))
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Sequence[np.ndarray]) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class PooledHead(DescriptorHead):
    """Pooled descriptor → standardisation → multinomial logistic regression, C chosen on validation."""

    def __init__(
        self,
        pooling: str = "mean",
        delta_step: int = 1,
        C_grid: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0),
        max_iter: int = 1000,
        val_fraction: float = 0.2,
        class_weight: str = "none",
        random_state: int = 0,
    ):
        self.pooling = pooling
        self.delta_step = delta_step
        self.C_grid = C_grid
        self.max_iter = max_iter
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.random_state = random_state

    def _candidates(self, n_features: int) -> list[dict[str, float]]:
        return [{"C": float(c)} for c in self.C_grid]

    def _make(self, candidate: dict[str, float], y_fit: np.ndarray) -> Pipeline:
        return Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "clf",
                    LogisticRegression(
                        C=candidate["C"],
                        max_iter=self.max_iter,
                        class_weight=None if self.class_weight == "none" else "balanced",
                    ),
                ),
            ]
        )

    def _count_parameters(self, estimator: Pipeline) -> int:
        clf = estimator.named_steps["clf"]
        return clf.coef_.size + clf.intercept_.size
