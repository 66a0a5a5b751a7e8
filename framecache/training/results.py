"""What training one head produced: each repeat's fitted head, probabilities and metrics, and the summary
that becomes ``metrics.json`` (per-split metrics as the mean over repeats with a ``_std`` twin, plus costs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from framecache.evaluation.metrics import METRIC_NAMES
from framecache.training.inputs import SplitData


@dataclass
class RepeatResult:
    """One repeat: its seed, fitted head, fit time, and per-split probabilities and metrics."""

    repeat: int
    random_state: int
    head: Any
    fit_seconds: float
    proba: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (N, n_classes) over all classes
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    inference_ms_per_video: float = float("nan")


@dataclass
class TrainingResult:
    """Every repeat of one configured head, with the data they saw."""

    name: str
    config: dict[str, Any]
    classes: list[str]
    data: dict[str, SplitData]
    repeats: list[RepeatResult]
    truncated_videos: int

    def summary(self) -> dict[str, Any]:
        """The metrics.json content: per-split metrics as mean and ``_std`` over repeats, plus costs."""
        out: dict[str, Any] = {}
        for split in ("test", "val"):
            if not self.repeats or split not in self.repeats[0].metrics:
                continue
            for name in METRIC_NAMES:
                values = [r.metrics[split][name] for r in self.repeats]
                out[f"{split}_{name}"], out[f"{split}_{name}_std"] = _mean_std(values)
            out[f"{split}_videos"] = len(self.data[split])
        fit = [r.fit_seconds for r in self.repeats]
        out["fit_seconds"], out["fit_seconds_std"] = _mean_std(fit)
        out["inference_ms_per_video"] = _mean_std([r.inference_ms_per_video for r in self.repeats])[0]
        first = self.repeats[0].head
        out["parameters"] = int(getattr(first, "n_parameters_", 0))
        out["repeats"] = len(self.repeats)
        out["truncated_videos"] = self.truncated_videos
        out["train_videos"] = len(self.data["train"])
        out["classes"] = len(self.classes)
        out["top5_trivial"] = len(self.classes) <= 5
        out["selected"] = selected_settings(first)
        return out


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    # sample standard deviation: the spread a reader should expect from another repeat; 0 for a single one
    a = np.asarray(values, dtype=np.float64)
    std = float(np.std(a, ddof=1)) if len(a) > 1 else 0.0
    return float(np.mean(a)), std


def selected_settings(head: Any) -> dict[str, float]:
    """What validation chose for repeat 0: the grid point (pooled/SVM) or the restored epoch (torch heads)."""
    if hasattr(head, "best_params_"):
        return {k: float(v) for k, v in head.best_params_.items()}
    if hasattr(head, "best_epoch_"):
        return {"epoch": int(head.best_epoch_), "epochs_run": len(head.history_)}
    return {}
