"""Linear and RBF support vector machines on a pooled descriptor, with calibrated probabilities.

An SVM gives margins, not probabilities, and top-5 accuracy and log-loss need real ones. Each candidate
(C, γ) is wrapped in scikit-learn's ``CalibratedClassifierCV`` (Platt/sigmoid scaling, ``ensemble=False``):
the calibration maps are fitted on cross-validated margins *within the training videos*, and the SVM is then
refitted on all of them. So calibration sees train only; the validation split only chooses (C, γ) (accuracy,
then log-loss), and test is never seen. Standardisation sits inside the calibrated pipeline, so each
calibration fold is standardised with its own training part.

γ is given as a multiple of 1/D (D = descriptor length): descriptors are standardised, so 1/D is
scikit-learn's "scale" heuristic and the grid means the same thing for any backbone width.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from framecache.errors import FramecacheError
from framecache.heads.pooled import DescriptorHead


class SVMHead(DescriptorHead):
    """Pooled descriptor → standardisation → SVM (linear or RBF) → Platt-calibrated probabilities."""

    def __init__(
        self,
        kernel: str = "linear",
        pooling: str = "mean",
        delta_step: int = 1,
        C_grid: Sequence[float] = (0.001, 0.01, 0.1, 1.0, 10.0),
        gamma_grid: Sequence[float] = (0.25, 1.0, 4.0),
        calibration_folds: int = 3,
        val_fraction: float = 0.2,
        class_weight: str = "none",
        random_state: int = 0,
    ):
        self.kernel = kernel
        self.pooling = pooling
        self.delta_step = delta_step
        self.C_grid = C_grid
        self.gamma_grid = gamma_grid
        self.calibration_folds = calibration_folds
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.random_state = random_state

    def _candidates(self, n_features: int) -> list[dict[str, float]]:
        if self.kernel == "linear":
            return [{"C": float(c)} for c in self.C_grid]
        return [{"C": float(c), "gamma": float(g)} for c in self.C_grid for g in self.gamma_grid]

    def _make(self, candidate: dict[str, float], y_fit: np.ndarray) -> CalibratedClassifierCV:
        smallest = int(np.min(np.bincount(y_fit)[np.unique(y_fit)]))
        folds = min(self.calibration_folds, smallest)
        if folds < 2:
            raise FramecacheError(
                f"svm head: a class has only {smallest} training video(s); calibrating probabilities needs at "
                "least 2 per class (use a pooled head, or give every class more training videos)"
            )
        gamma = candidate.get("gamma", 1.0) / self.n_descriptor_features_
        svm = SVC(
            kernel=self.kernel,
            C=candidate["C"],
            gamma=gamma,
            class_weight=None if self.class_weight == "none" else "balanced",
            random_state=self.random_state,
        )
        return CalibratedClassifierCV(
            Pipeline([("scale", StandardScaler()), ("svm", svm)]),
            method="sigmoid",
            cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state),
            ensemble=False,
        )

    def _count_parameters(self, estimator: CalibratedClassifierCV) -> int:
        calibrated = estimator.calibrated_classifiers_[0]
        svm = calibrated.estimator.named_steps["svm"]
        # support vectors and their dual coefficients define the decision function; each Platt map has 2
        sv = svm.support_vectors_.size + svm.dual_coef_.size + svm.intercept_.size
        return int(sv + 2 * len(calibrated.calibrators))
