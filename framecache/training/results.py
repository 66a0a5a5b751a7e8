"""What training one head produced: each repeat's fitted head, probabilities and metrics, and the summary
that becomes ``metrics.json`` (per-split metrics as the mean over repeats with a ``_std`` twin: the sample standard
deviation, ddof=1, from :func:`framecache.evaluation.metrics.mean_std`, the one spread the report shows too; costs, what
validation selected, and under group k-fold the folds and the refitted model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from framecache.evaluation.metrics import METRIC_NAMES, mean_std
from framecache.training.evaluation import Evaluation
from framecache.training.inputs import SplitData

HOLDOUT = Evaluation("holdout", 0, "holdout", "train.evaluation: holdout (as set in params)")


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
    fold_heads: list[Any] = field(default_factory=list)  # group k-fold: each fold's head (``head`` is fold 0's)


@dataclass
class TrainingResult:
    """Every repeat of one configured head, with the data they saw."""

    name: str
    config: dict[str, Any]
    classes: list[str]
    data: dict[str, SplitData]
    repeats: list[RepeatResult]
    truncated_videos: int
    evaluation: Evaluation = HOLDOUT
    # group k-fold only: split -> the fold of each row of data[split]; the refitted model; its videos per fit
    fold: dict[str, np.ndarray] = field(default_factory=dict)
    refit: Any = None
    fit_videos: float | None = None
    groups: int | None = None

    @property
    def model(self) -> Any:
        """The head written to model.pkl (for predict): repeat 0's, or under group k-fold the refitted one."""
        return self.refit if self.refit is not None else self.repeats[0].head

    def summary(self) -> dict[str, Any]:
        """The metrics.json content: per-split metrics as mean and ``_std`` over repeats, plus costs."""
        ev = self.evaluation
        out: dict[str, Any] = {
            "evaluation": ev.method,
            "evaluation_setting": ev.setting,
            "evaluation_reason": ev.reason,
        }
        for split in ("test", "val"):
            if not self.repeats or split not in self.repeats[0].metrics:
                continue
            for name in METRIC_NAMES:
                values = [r.metrics[split][name] for r in self.repeats]
                out[f"{split}_{name}"], out[f"{split}_{name}_std"] = mean_std(values)
            out[f"{split}_videos"] = len(self.data[split])
        fit = [r.fit_seconds for r in self.repeats]
        out["fit_seconds"], out["fit_seconds_std"] = mean_std(fit)
        out["inference_ms_per_video"] = mean_std([r.inference_ms_per_video for r in self.repeats])[0]
        model = self.model
        out["parameters"] = int(getattr(model, "n_parameters_", 0))
        out["repeats"] = len(self.repeats)
        out["truncated_videos"] = self.truncated_videos
        out["classes"] = len(self.classes)
        out["top5_trivial"] = len(self.classes) <= 5
        out["selected"] = selected_settings(model)
        if ev.method == "holdout":
            out["train_videos"] = len(self.data["train"])
            return out
        out["train_videos"] = self.fit_videos
        out["folds"] = len(self.repeats[0].fold_heads)
        out["groups"] = self.groups
        out["selected_per_fold"] = [selected_settings(h) for h in self.repeats[0].fold_heads]
        out["model"] = (
            f"refitted on all {len(self.data['test'])} videos (validation carved out by group) for predict; the "
            "test metrics are out of fold: each video predicted once by a model that never saw its group"
        )
        return out


def selected_settings(head: Any) -> dict[str, float]:
    """What validation chose: the grid point (C, γ; a torch head's hidden, dropout, weight_decay) and, for a
    torch head, the restored epoch and the epochs it ran."""
    out: dict[str, float] = {k: _number(v) for k, v in getattr(head, "best_params_", {}).items()}
    if hasattr(head, "best_epoch_"):
        out.update(epoch=int(head.best_epoch_), epochs_run=len(head.history_))
    return out


def _number(value: Any) -> float:
    # a width stays an integer (hidden 64, not 64.0); a rate or strength is a float
    return int(value) if isinstance(value, int | np.integer) else float(value)
