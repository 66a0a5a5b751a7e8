"""The ``pooled`` and ``svm`` head types: a pooled descriptor classified by logistic regression or an SVM."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from framecache.config.fields import Int, Settings
from framecache.heads.pooling import is_order_invariant
from framecache.heads.record import HeadType
from framecache.heads.specs.common import C_GRID, CGrid, ClassWeight, DeltaStep, Pooling, PositiveFloats, ValFraction


class PooledSettings(Settings):
    pooling: Pooling = "mean"
    delta_step: DeltaStep = 1
    C_grid: CGrid = C_GRID
    max_iter: Int = Field(1000, ge=10, description="logistic regression solver iterations")
    val_fraction: ValFraction = 0.2
    class_weight: ClassWeight = "none"


class SVMSettings(Settings):
    kernel: Literal["linear", "rbf"] = Field("linear", description="SVM kernel")
    pooling: Pooling = "mean"
    delta_step: DeltaStep = 1
    C_grid: CGrid = C_GRID
    gamma_grid: PositiveFloats = Field(
        [0.25, 1.0, 4.0],
        min_length=1,
        description="RBF widths tried, as multiples of 1/k (k = descriptor length; descriptors are standardised); "
        "ignored by the linear kernel",
    )
    calibration_folds: Int = Field(
        3, ge=2, description="cross-validation folds on train used to calibrate probabilities (Platt scaling)"
    )
    val_fraction: ValFraction = 0.2
    class_weight: ClassWeight = "none"


def _pooling_is_static(settings: PooledSettings | SVMSettings) -> bool:
    # the classifier sees only the descriptor: the head is as order-blind as its pooling
    return is_order_invariant(settings.pooling)


POOLED = HeadType(
    name="pooled",
    settings=PooledSettings,
    implementation="framecache.heads.pooled:PooledHead",
    uses_torch=False,
    order_blind=_pooling_is_static,
    tiny={"C_grid": [0.1, 1.0]},
)
SVM = HeadType(
    name="svm",
    settings=SVMSettings,
    implementation="framecache.heads.svm:SVMHead",
    uses_torch=False,
    order_blind=_pooling_is_static,
    tiny={"C_grid": [0.1, 1.0], "gamma_grid": [1.0], "kernel": "rbf", "calibration_folds": 2},
)
