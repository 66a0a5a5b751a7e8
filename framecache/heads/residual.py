"""The pooled head inside a temporal head (a torch head's ``residual_pooling``): fitted before the net, on the same
training and validation videos, by the pooled head's own code (:class:`framecache.heads.pooled.PooledHead`: pooling,
standardisation, logistic regression with C chosen on validation from :data:`C_GRID`), then folded into one frozen
linear map of the pooled *standardised* frames the net reads. The net adds its logits to that map's
(:class:`framecache.heads.readout.Classifier`), so a temporal head starts from, and can fall back on, exactly what
the pooled head sees.

Folding: the net's frames are ``(x − m) / s`` per feature, and mean, max and min commute with that positive affine
map, so the pooled head's descriptor is ``P · s + m`` for the pooled standardised frames ``P``; its standardiser and
linear model compose into one affine map of ``P``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from framecache.heads.pooled import PooledHead

# the pooled heads' default grid (params.yaml's heads.pool_*.C_grid): the same choice a pooled head makes
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
# logit of a class the pooled head never saw in its training videos: probability ~e^-50 of the others'
ABSENT_CLASS_LOGIT = -50.0


@dataclass(frozen=True)
class Residual:
    """The folded pooled head: ``logits = P @ weight.T + bias`` for the pooled standardised frames ``P``."""

    weight: np.ndarray  # (n_classes, d) float32
    bias: np.ndarray  # (n_classes,) float32
    C: float  # the inverse regularisation validation chose
    grid: list[dict]  # the pooled head's candidates and their validation scores


def fit_residual(
    pooling: str,
    X_fit: Sequence[np.ndarray],
    y_fit: np.ndarray,
    X_val: Sequence[np.ndarray],
    y_val: np.ndarray,
    n_classes: int,
    standardisation: tuple[np.ndarray, np.ndarray],
    *,
    class_weight: str,
    random_state: int,
) -> Residual:
    """Fit the pooled head on class indices ``y_fit`` (validation ``X_val``, ``y_val`` when there are videos) and
    fold it into a map of pooled standardised frames; ``standardisation`` is the net's ``(mean, scale)``."""
    head = PooledHead(pooling, C_grid=C_GRID, class_weight=class_weight, random_state=random_state)
    head.fit(X_fit, y_fit, *((X_val, y_val) if len(X_val) else ()))
    scaler, clf = head.estimator_.named_steps["scale"], head.estimator_.named_steps["clf"]
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # scikit-learn's binary model: p(second class) = sigmoid(z), i.e. logits (0, z)
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    mean, scale = (np.tile(a.astype(np.float64), 2 if pooling == "maxmin" else 1) for a in standardisation)
    sigma = scaler.scale_ if scaler.scale_ is not None else np.ones_like(mean)
    mu = scaler.mean_ if scaler.mean_ is not None else np.zeros_like(mean)
    weight = np.zeros((n_classes, len(mean)))
    bias = np.full(n_classes, ABSENT_CLASS_LOGIT)
    seen = head.classes_[clf.classes_]  # the torch head's class indices the pooled head's columns stand for
    weight[seen] = coef * (scale / sigma)[None, :]
    bias[seen] = coef @ ((mean - mu) / sigma) + intercept
    return Residual(weight.astype(np.float32), bias.astype(np.float32), float(head.best_params_["C"]), head.grid_)
