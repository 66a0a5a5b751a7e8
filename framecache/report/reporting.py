"""The comparison of trained heads, written as tables (CSV, Markdown, HTML), plots and one self-contained HTML
page: what the report stage produces from the train stages' outputs.

Every number shown with a confidence interval comes from :mod:`framecache.evaluation.statistics`, resampling the *same*
test videos for every head so two heads' intervals and their difference are paired. The sections:

* **headline**: which heads win on the order-only class pairs (classes that differ only in frame order, from
  ``report.class_pairs``) and which on the appearance classes (those in no pair), with CIs and the heads
  statistically tied with each winner;
* **comparison**: per head top-1, top-5, mean class accuracy, macro-F1 (mean over repeats, bootstrap CI,
  ± std across repeats when there are several), log-loss, an above-chance test, a paired test against the
  best order-blind baseline, and cost (fit seconds, inference ms per video, parameters);
* **within-pair accuracy** per pair, **per-class accuracy**, **confusion matrices**, **training curves**;
* **dataset** (classes, counts per split, failures) and **extraction** (backbone, sampling, speed, device).

A section whose input is missing is still rendered, saying what is missing, so a gap is visible rather than
silently absent. Nothing here reads a clock or a random source other than the seeded bootstrap, so the same
inputs give byte-identical outputs.
"""

from __future__ import annotations

import base64
import html
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

# Headless: the report stage runs on servers and in CI without a display.
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay

from framecache.errors import FramecacheError
from framecache.evaluation import statistics
from framecache.evaluation.metrics import classification_metrics
from framecache.fileio import atomic_path, read_json, write_csv, write_json, write_text

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("video_id", "split", "repeat", "label", "predicted")
CURVE_COLUMNS = ("repeat", "step", "train_loss", "val_loss", "val_accuracy")
METRIC_TITLES = {
    "top1": "top-1",
    "top5": "top-5",
    "mean_class_accuracy": "mean class acc.",
    "macro_f1": "macro-F1",
}
COST_KEYS = ("fit_seconds", "inference_ms_per_video", "parameters", "truncated_videos")
STATIC_POOLINGS = ("mean", "max", "min", "maxmin")

COMPARISON_COLUMNS = [
    "head", "type", "order_blind", "repeats", "test_videos",
    *[f"{m}{s}" for m in METRIC_TITLES for s in ("", "_low", "_high", "_std")],
    "log_loss", "log_loss_std",
    "chance", "above_chance_p", "above_chance",
    "order_pairs", "order_pairs_low", "order_pairs_high",
    "appearance", "appearance_low", "appearance_high",
    "baseline", "delta_top1", "delta_top1_low", "delta_top1_high", "delta_top1_p",
    "mcnemar_head_only", "mcnemar_baseline_only", "mcnemar_p",
    *COST_KEYS, "status",
]  # fmt: skip
PAIR_COLUMNS = ["head", "pair", "status", "test_videos", "accuracy", "low", "high", "std"]


# --------------------------------------------------------------------------------------------------------
# Reading the train stages' outputs


def is_order_blind(spec: Mapping[str, Any]) -> bool:
    """Does this head ignore frame order? Static pooling (+ any classifier) and position-free attention do."""
    kind = spec.get("type")
    if kind in ("pooled", "svm"):
        return spec.get("pooling", "mean") in STATIC_POOLINGS
    if kind == "attention":
        return spec.get("positional", True) is False
    return False


def is_baseline_candidate(spec: Mapping[str, Any]) -> bool:
    """The order-blind pooled baselines (pooled or SVM heads on a static pooling) the others are tested against."""
    return spec.get("type") in ("pooled", "svm") and is_order_blind(spec)


@dataclass
class HeadResult:
    """One trained head's outputs as read from ``${paths.models}/<head>/``."""

    name: str
    type: str
    order_blind: bool
    baseline_candidate: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    predictions: pd.DataFrame | None = None  # columns video_id, split, repeat, label_index, p_<class>...
    curve: pd.DataFrame | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.predictions is not None


def read_classes(prepared: Path) -> list[str] | None:
    path = prepared / "classes.txt"
    if not path.is_file():
        return None
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_predictions(path: Path, classes: Sequence[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """Parse a head's predictions.csv; returns it with an integer ``label_index`` column, and the classes.

    Labels may be class names or indices. Probability columns are reordered to ``classes`` when given; a
    file whose ``p_<class>`` columns do not name exactly those classes is rejected.
    """
    df = pd.read_csv(path, dtype={"video_id": str, "split": str})
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise FramecacheError(f"{path}: missing column(s) {', '.join(missing)}")
    names = [c[2:] for c in df.columns if c.startswith("p_")]
    if not names:
        raise FramecacheError(f"{path}: no p_<class> probability columns")
    if classes is None:
        classes = names
    elif sorted(names) != sorted(classes):
        extra, absent = sorted(set(names) - set(classes)), sorted(set(classes) - set(names))
        raise FramecacheError(
            f"{path}: probability columns do not match classes.txt (extra: {extra or 'none'}, "
            f"missing: {absent or 'none'}); re-run the train stage"
        )
    index = {c: i for i, c in enumerate(classes)}
    if pd.api.types.is_integer_dtype(df["label"]):
        label_index = df["label"].to_numpy(dtype=np.int64)
        if len(label_index) and (label_index.min() < 0 or label_index.max() >= len(classes)):
            raise FramecacheError(f"{path}: label indices outside 0..{len(classes) - 1}")
    else:
        labels = df["label"].astype(str)
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise FramecacheError(f"{path}: labels not among the classes: {', '.join(unknown[:5])}")
        label_index = labels.map(index).to_numpy(dtype=np.int64)
    out = pd.DataFrame(
        {
            "video_id": df["video_id"],
            "split": df["split"],
            "repeat": df["repeat"].astype(np.int64),
            "label_index": label_index,
        }
    )
    proba = df[[f"p_{c}" for c in classes]].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(proba)):
        raise FramecacheError(f"{path}: non-finite probabilities")
    out = pd.concat([out, pd.DataFrame(proba, columns=[f"p_{c}" for c in classes])], axis=1)
    return out, list(classes)


def load_head_result(
    models: Path, name: str, spec: Mapping[str, Any], classes: Sequence[str] | None
) -> tuple[HeadResult, list[str] | None]:
    """Read one head's folder; missing or unreadable files become ``problems`` instead of exceptions."""
    folder = models / name
    res = HeadResult(name, str(spec.get("type")), is_order_blind(spec), is_baseline_candidate(spec))
    if (folder / "metrics.json").is_file():
        try:
            res.metrics = read_json(folder / "metrics.json")
        except ValueError as exc:
            res.problems.append(f"metrics.json unreadable ({exc})")
    else:
        res.problems.append("metrics.json missing: cost columns empty")
    if (folder / "curve.csv").is_file():
        curve = pd.read_csv(folder / "curve.csv")
        if all(c in curve.columns for c in ("repeat", "step")):
            res.curve = curve
        else:
            res.problems.append("curve.csv lacks repeat/step columns")
    if (folder / "predictions.csv").is_file():
        try:
            res.predictions, classes = read_predictions(folder / "predictions.csv", classes)
        except (FramecacheError, ValueError, KeyError) as exc:
            res.problems.append(str(exc))
    else:
        res.problems.append(f"predictions.csv missing in {folder}: head left out of the comparison")
    return res, classes


# --------------------------------------------------------------------------------------------------------
# The comparison


@dataclass
class PairSpec:
    a: str
    b: str
    status: str  # "ok", or why the pair cannot be scored
    indices: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        return f"{self.a} / {self.b}"


@dataclass
class Winner:
    """The best head on a subset of test videos and the heads statistically tied with it."""

    subset: str
    best: str | None
    interval: statistics.Interval | None
    tied: list[str]
    baseline: str | None
    baseline_interval: statistics.Interval | None
    n_videos: int


@dataclass
class Comparison:
    """Everything the report shows, computed once; writers only format it."""

    classes: list[str]
    heads: list[HeadResult]
    test_ids: list[str]
    y_test: np.ndarray
    rows: list[dict[str, Any]]
    pairs: list[PairSpec]
    pair_rows: list[dict[str, Any]]
    per_class_rows: list[dict[str, Any]]
    appearance_classes: list[str]
    order_winner: Winner | None
    appearance_winner: Winner | None
    baseline: str | None
    baseline_rule: str
    chance: float
    settings: dict[str, Any]
    problems: list[str]

    def row(self, head: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["head"] == head)


def _check_pairs(class_pairs: Sequence[Sequence[str]], classes: Sequence[str]) -> list[PairSpec]:
    seen: dict[str, int] = {}
    specs = []
    for i, pair in enumerate(class_pairs):
        a, b = pair
        if a == b:
            raise FramecacheError(f"params: report.class_pairs[{i}] = {list(pair)!r} names {a!r} twice")
        for c in (a, b):
            if c in seen:
                raise FramecacheError(
                    f"params: report.class_pairs[{i}] repeats class {c!r} from report.class_pairs[{seen[c]}]; "
                    "a class may be in one pair only"
                )
            seen[c] = i
        absent = [c for c in (a, b) if c not in classes]
        if absent:
            specs.append(PairSpec(a, b, f"absent: {', '.join(absent)} not a class of this dataset"))
        else:
            specs.append(PairSpec(a, b, "ok", (classes.index(a), classes.index(b))))
    return specs


def _aligned(res: HeadResult, split: str, ids: Sequence[str] | None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(video ids, labels (N,), probabilities (R, N, C)) of one split, every repeat in the order of ``ids``."""
    df = res.predictions
    assert df is not None
    df = df[df["split"] == split]
    pcols = [c for c in df.columns if c.startswith("p_")]
    repeats = sorted(df["repeat"].unique())
    if not repeats:
        return [], np.zeros(0, np.int64), np.zeros((0, 0, len(pcols)))
    if ids is None:
        ids = sorted(df.loc[df["repeat"] == repeats[0], "video_id"])
    probas, labels = [], None
    for r in repeats:
        part = df[df["repeat"] == r].drop_duplicates("video_id").set_index("video_id")
        missing = set(ids) - set(part.index)
        if missing:
            raise FramecacheError(
                f"{res.name}: repeat {r} has no {split} prediction for {len(missing)} video(s), "
                f"e.g. {sorted(missing)[0]!r}"
            )
        part = part.loc[list(ids)]
        probas.append(part[pcols].to_numpy(dtype=np.float64))
        labels = part["label_index"].to_numpy(dtype=np.int64) if labels is None else labels
    return list(ids), labels, np.stack(probas)


def _fmt_pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _fmt_ci(iv: statistics.Interval | None) -> str:
    if iv is None or math.isnan(iv.point):
        return "–"
    return f"{_fmt_pct(iv.point)} [{100 * iv.low:.1f}, {100 * iv.high:.1f}]"


def _winner(
    subset: str,
    scores: dict[str, np.ndarray],
    weights: np.ndarray,
    confidence: float,
    order: Sequence[str],
    baselines: Sequence[str],
) -> Winner:
    """Best head by mean score (ties: first in ``train.heads``) and the heads whose paired-bootstrap CI of the
    difference to it includes zero."""
    n = len(next(iter(scores.values()))) if scores else 0
    if not scores or n == 0:
        return Winner(subset, None, None, [], None, None, n)
    means = {h: float(np.mean(s)) for h, s in scores.items()}
    best = max(order, key=lambda h: (means.get(h, -1.0), -order.index(h)))
    tied = [
        h
        for h in order
        if h in scores
        and h != best
        and statistics.paired_bootstrap(scores[best], scores[h], weights, confidence).diff.low <= 0
    ]
    base = [h for h in order if h in scores and h in baselines]
    top_base = max(base, key=lambda h: (means[h], -order.index(h))) if base else None
    return Winner(
        subset,
        best,
        statistics.mean_interval(scores[best], weights, confidence),
        tied,
        top_base,
        statistics.mean_interval(scores[top_base], weights, confidence) if top_base else None,
        n,
    )


def compare(
    heads: Sequence[HeadResult],
    classes: Sequence[str],
    class_pairs: Sequence[Sequence[str]],
    n_boot: int,
    confidence: float,
    seed: int,
) -> Comparison:
    """Score every usable head on the common test videos: CIs, chance test, paired tests, pair accuracies."""
    classes = list(classes)
    n_classes = len(classes)
    problems: list[str] = [f"{h.name}: {p}" for h in heads for p in h.problems]
    usable = [h for h in heads if h.usable]
    if not usable:
        raise FramecacheError(
            "no head has readable predictions.csv under the models folder: run the train stages first"
        )
    pairs = _check_pairs(class_pairs, classes)
    for p in pairs:
        if p.status != "ok":
            problems.append(f"class pair {p.label}: {p.status}")
    in_pairs = {c for p in pairs if p.status == "ok" for c in (p.a, p.b)}
    appearance = [c for c in classes if c not in in_pairs]

    # The common test set: every head is scored on the same videos, or paired tests would be meaningless.
    id_sets = []
    for h in list(usable):
        assert h.predictions is not None
        test = h.predictions[h.predictions["split"] == "test"]
        if not len(test):
            problems.append(f"{h.name}: predictions.csv has no test rows: head left out of the comparison")
            usable.remove(h)
            continue
        id_sets.append(set(test.loc[test["repeat"] == test["repeat"].min(), "video_id"]))
    if not usable:
        raise FramecacheError("no head has test predictions: check the predictions.csv files (split column)")
    common = sorted(set.intersection(*id_sets))
    for h, ids in zip(usable, id_sets, strict=True):
        if len(ids) != len(common):
            problems.append(
                f"{h.name}: {len(ids) - len(common)} test video(s) not predicted by every head are left out"
            )
    if not common:
        raise FramecacheError("the heads share no test video: check the predictions.csv files (split column)")

    weights = statistics.resample_counts(len(common), n_boot, seed)
    aligned: dict[str, np.ndarray] = {}
    y_test = None
    for h in list(usable):
        try:
            _, y, proba = _aligned(h, "test", common)
        except FramecacheError as exc:
            problems.append(str(exc))
            usable.remove(h)
            continue
        if y_test is None:
            y_test = y
        elif not np.array_equal(y, y_test):
            problems.append(f"{h.name}: test labels disagree with {usable[0].name}: head left out")
            usable.remove(h)
            continue
        aligned[h.name] = proba
    assert y_test is not None
    order = [h.name for h in usable]
    chance = statistics.chance_rate(y_test, n_classes)
    alpha = 1.0 - confidence

    # Per-video scores averaged over repeats: what the paired tests and subset intervals resample.
    correct = {h: (np.argmax(p, axis=2) == y_test).astype(np.float64) for h, p in aligned.items()}  # (R, N)
    pair_mask = np.zeros(len(common), dtype=bool)
    pair_correct: dict[str, np.ndarray] = {h: np.zeros_like(c) for h, c in correct.items()}
    for p in pairs:
        if p.status != "ok":
            continue
        ia, ib = p.indices  # type: ignore[misc]
        mask = (y_test == ia) | (y_test == ib)
        pair_mask |= mask
        for h, proba in aligned.items():
            # argmax between the two classes only; ties go to the first class, as in np.argmax
            within = np.where(proba[:, :, ia] >= proba[:, :, ib], ia, ib)
            pair_correct[h][:, mask] = (within[:, mask] == y_test[mask]).astype(np.float64)
    app_mask = np.isin(y_test, [classes.index(c) for c in appearance])

    # The baseline: chosen on validation accuracy, never on the test set it is then compared on.
    val_top1: dict[str, float] = {}
    for h in usable:
        if h.baseline_candidate:
            try:
                _, yv, pv = _aligned(h, "val", None)
            except FramecacheError:
                pv = np.zeros((0, 0, 0))
            if pv.size:
                val_top1[h.name] = float(np.mean(np.argmax(pv, axis=2) == yv))
            elif isinstance(h.metrics.get("val_top1"), int | float):
                val_top1[h.name] = float(h.metrics["val_top1"])
    candidates = [h.name for h in usable if h.baseline_candidate]
    if val_top1:
        baseline = max(val_top1, key=lambda h: (val_top1[h], -order.index(h)))
        rule = (
            "the order-blind pooled head (pooled/SVM on mean, max, min or max-min pooling) with the best "
            "validation top-1"
        )
    elif candidates:
        baseline = max(candidates, key=lambda h: (float(correct[h].mean()), -order.index(h)))
        rule = "the order-blind pooled head with the best test top-1 (no validation predictions were available)"
        problems.append("no validation predictions: the baseline head was chosen on the test set")
    else:
        baseline = None
        rule = "none: no order-blind pooled head (pooled/SVM on a static pooling) was trained"

    rows = []
    for h in heads:
        row: dict[str, Any] = {
            "head": h.name, "type": h.type, "order_blind": h.order_blind,
            **{k: h.metrics.get(k) for k in COST_KEYS},
            "repeats": None, "test_videos": None, "status": "ok" if h.name in aligned else "missing",
        }  # fmt: skip
        if h.name not in aligned:
            rows.append(row)
            continue
        proba = aligned[h.name]
        row["repeats"], row["test_videos"] = proba.shape[0], proba.shape[1]
        boot = statistics.bootstrap_metrics(y_test, list(proba), n_boot, confidence, seed, weights=weights)
        per_repeat = [classification_metrics(y_test, p) for p in proba]
        for m, iv in boot.items():
            std = float(np.std([r[m] for r in per_repeat])) if len(per_repeat) > 1 else None
            row.update({m: iv.point, f"{m}_low": iv.low, f"{m}_high": iv.high, f"{m}_std": std})
        row["log_loss"] = float(np.mean([r["log_loss"] for r in per_repeat]))
        row["log_loss_std"] = float(np.std([r["log_loss"] for r in per_repeat])) if len(per_repeat) > 1 else None
        test = statistics.above_chance(correct[h.name][0].astype(bool), chance, alpha)
        row.update({"chance": chance, "above_chance_p": test.p_value, "above_chance": test.above})
        if pair_mask.any():
            iv = statistics.mean_interval(pair_correct[h.name].mean(0)[pair_mask], weights[:, pair_mask], confidence)
            row.update({"order_pairs": iv.point, "order_pairs_low": iv.low, "order_pairs_high": iv.high})
        if app_mask.any():
            iv = statistics.mean_interval(correct[h.name].mean(0)[app_mask], weights[:, app_mask], confidence)
            row.update({"appearance": iv.point, "appearance_low": iv.low, "appearance_high": iv.high})
        if baseline is not None and h.name != baseline:
            pb = statistics.paired_bootstrap(correct[h.name].mean(0), correct[baseline].mean(0), weights, confidence)
            mc = statistics.mcnemar(correct[h.name][0].astype(bool), correct[baseline][0].astype(bool))
            row.update({
                "baseline": baseline, "delta_top1": pb.diff.point, "delta_top1_low": pb.diff.low,
                "delta_top1_high": pb.diff.high, "delta_top1_p": pb.p_value,
                "mcnemar_head_only": mc.only_a, "mcnemar_baseline_only": mc.only_b, "mcnemar_p": mc.p_value,
            })  # fmt: skip
        elif h.name == baseline:
            row["baseline"] = "(this head)"
        rows.append(row)

    pair_rows = []
    for h in usable:
        for p in pairs:
            row = {"head": h.name, "pair": p.label, "status": p.status}
            if p.status == "ok":
                ia, ib = p.indices  # type: ignore[misc]
                mask = (y_test == ia) | (y_test == ib)
                row["test_videos"] = int(mask.sum())
                if mask.any():
                    iv = statistics.mean_interval(pair_correct[h.name].mean(0)[mask], weights[:, mask], confidence)
                    per_rep = pair_correct[h.name][:, mask].mean(axis=1)
                    row.update({"accuracy": iv.point, "low": iv.low, "high": iv.high})
                    row["std"] = float(np.std(per_rep)) if len(per_rep) > 1 else None
                else:
                    row["status"] = "no test videos"
            pair_rows.append(row)

    per_class_rows = []
    pair_of = {c: p.label for p in pairs if p.status == "ok" for c in (p.a, p.b)}
    for ci, c in enumerate(classes):
        mask = y_test == ci
        row = {"class": c, "kind": f"pair {pair_of[c]}" if c in pair_of else "appearance",
               "test_videos": int(mask.sum())}  # fmt: skip
        for h in order:
            row[h] = float(correct[h][:, mask].mean()) if mask.any() else None
        per_class_rows.append(row)

    baselines = candidates
    order_scores = {h: pair_correct[h].mean(0)[pair_mask] for h in order}
    app_scores = {h: correct[h].mean(0)[app_mask] for h in order}
    order_winner = (
        _winner("order-only pairs", order_scores, weights[:, pair_mask], confidence, order, baselines)
        if pair_mask.any()
        else None
    )
    app_winner = (
        _winner("appearance classes", app_scores, weights[:, app_mask], confidence, order, baselines)
        if app_mask.any()
        else None
    )
    return Comparison(
        classes=classes, heads=list(heads), test_ids=common, y_test=y_test, rows=rows, pairs=pairs,
        pair_rows=pair_rows, per_class_rows=per_class_rows, appearance_classes=appearance,
        order_winner=order_winner, appearance_winner=app_winner, baseline=baseline, baseline_rule=rule,
        chance=chance, settings={"bootstrap": n_boot, "confidence": confidence, "seed": seed}, problems=problems,
    )  # fmt: skip


def headline(cmp: Comparison) -> list[str]:
    """The report's conclusions in plain sentences (Markdown emphasis on head names)."""
    conf = f"{100 * cmp.settings['confidence']:g}%"
    lines = []
    ok_pairs = [p.label for p in cmp.pairs if p.status == "ok"]
    for w, what, metric in (
        (cmp.order_winner, f"the order-only pairs ({', '.join(ok_pairs)})", "within-pair accuracy"),
        (cmp.appearance_winner, f"the appearance classes ({', '.join(cmp.appearance_classes)})", "accuracy"),
    ):
        if w is None or w.best is None:
            lines.append(f"No test videos of {what}: no winner to name.")
            continue
        s = f"On {what}, {w.n_videos} test videos, **{w.best}** wins: {metric} {_fmt_ci(w.interval)}"
        s += f" ({conf} CI)"
        if w.tied:
            s += f"; statistically tied with it (paired bootstrap CI of the difference includes 0): {', '.join(w.tied)}"
        else:
            s += "; every other head is significantly worse (paired bootstrap)"
        s += "."
        if w.baseline and w.baseline != w.best:
            s += f" Best order-blind head here: {w.baseline}, {_fmt_ci(w.baseline_interval)}."
        lines.append(s)
    if not any(p.status == "ok" for p in cmp.pairs):
        lines.append("None of the class pairs in report.class_pairs is present in this dataset.")
    scored = [r for r in cmp.rows if r["status"] == "ok"]
    best = max(scored, key=lambda r: r["top1"])
    above = [r["head"] for r in scored if r["above_chance"]]
    lines.append(
        f"Best overall test top-1: **{best['head']}** {_fmt_pct(best['top1'])} "
        f"[{100 * best['top1_low']:.1f}, {100 * best['top1_high']:.1f}]. "
        f"{len(above)} of {len(scored)} heads are above chance ({_fmt_pct(cmp.chance)}, one-sided binomial test, "
        f"p < {1 - cmp.settings['confidence']:.2g})."
    )
    return lines


def summary_metrics(cmp: Comparison) -> dict[str, Any]:
    """Flat numbers for ``dvc metrics show/diff`` and ``dvc exp show``."""
    scored = [r for r in cmp.rows if r["status"] == "ok"]
    best = max(scored, key=lambda r: r["top1"])
    out: dict[str, Any] = {
        "best_head": best["head"],
        "best_test_top1": _round(best["top1"]),
        "test_videos": len(cmp.test_ids),
        "heads_above_chance": sum(bool(r["above_chance"]) for r in scored),
    }
    if cmp.order_winner and cmp.order_winner.best:
        out["order_pairs_best_head"] = cmp.order_winner.best
        out["order_pairs_best"] = _round(cmp.order_winner.interval.point)  # type: ignore[union-attr]
    if cmp.appearance_winner and cmp.appearance_winner.best:
        out["appearance_best_head"] = cmp.appearance_winner.best
        out["appearance_best"] = _round(cmp.appearance_winner.interval.point)  # type: ignore[union-attr]
    out["heads"] = {
        r["head"]: {
            k: _round(r.get(k))
            for k in ("top1", "top1_low", "top1_high", "macro_f1", "order_pairs", "appearance")
            if r.get(k) is not None
        }
        for r in scored
    }
    return out


def _round(x: Any, digits: int = 6) -> Any:
    if isinstance(x, float | np.floating):
        return None if math.isnan(x) else round(float(x), digits)
    return x


# --------------------------------------------------------------------------------------------------------
# Dataset and extraction sections


@dataclass
class Section:
    """A report section from files that may be missing: key/value facts, tables, and what is missing."""

    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _read_failures(path: Path, section: Section, title: str) -> None:
    if not path.is_file():
        section.missing.append(f"{path} not found")
        return
    failures = pd.read_csv(path, dtype=str, keep_default_na=False)
    section.facts.append((title, str(len(failures))))
    if len(failures):
        section.tables.append((f"{title} (first 50)" if len(failures) > 50 else title, failures.head(50)))


def dataset_section(prepared: Path, heads: Sequence[HeadResult]) -> Section:
    sec = Section()
    summary_path = prepared / "summary.json"
    if summary_path.is_file():
        summary = read_json(summary_path)
        for key, value in summary.items():
            if isinstance(value, str | int | float) or (isinstance(value, list) and value):
                shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                sec.facts.append((key.replace("_", " "), shown))
    else:
        sec.missing.append(f"{summary_path} not found")
    manifest_path = prepared / "manifest.csv"
    if manifest_path.is_file():
        manifest = pd.read_csv(manifest_path, dtype={"label": str, "split": str})
        counts = pd.crosstab(manifest["label"], manifest["split"], margins=True, margins_name="total")
        classes = read_classes(prepared)
        if classes:
            counts = counts.reindex([*[c for c in classes if c in counts.index], "total"])
        cols = [c for c in ("train", "val", "test") if c in counts.columns] + ["total"]
        counts = counts[cols].rename_axis(index="class", columns=None).reset_index()
        sec.tables.append(("Videos per class and split", counts))
    else:
        sec.missing.append(f"{manifest_path} not found")
    _read_failures(prepared / "failures.csv", sec, "Files left out by prepare")
    truncated = {h.name: h.metrics["truncated_videos"] for h in heads if "truncated_videos" in h.metrics}
    if truncated:
        sec.tables.append(
            (
                "Videos truncated to a head's max_len (per head)",
                pd.DataFrame({"head": list(truncated), "truncated videos": list(truncated.values())}),
            )
        )
    return sec


def read_store(store: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The feature store's recorded configuration (provenance, compute, library versions) and its per-video
    table (split, sampling ``policy``, stored frames...)."""
    from framecache.features.store import FeatureStore

    with FeatureStore.open(store) as fs:
        info = dict(fs.provenance)
        for key in ("compute", "libraries"):
            if key in fs.attrs:
                info[key] = fs.attrs[key]
        info["videos"] = len(fs)
        videos = fs.videos()
    return info, videos


def _shown(value: Any, nested: bool = False) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        text = ", ".join(f"{k}={_shown(v, True)}" for k, v in value.items())
        return f"{{{text}}}" if nested else text
    if isinstance(value, list | tuple):
        if len(value) > 12:
            return f"{len(value)} items"
        text = ", ".join(_shown(v, True) for v in value)
        return f"[{text}]" if nested else text
    return str(value)


def extraction_section(features: Path, store: Path) -> Section:
    sec = Section()
    try:
        info, videos = read_store(store)
    except Exception as exc:  # a missing or unreadable store must not hide the rest of the report
        sec.missing.append(f"feature store provenance unavailable ({store}): {type(exc).__name__}: {exc}")
    else:
        for key, value in info.items():
            sec.facts.append((f"store: {key}", _shown(value)))
        if len(videos) and {"policy", "split", "num_samples"} <= set(videos.columns):
            # full = sampled as asked; keep/repeat = shorter than asked (kept short / padded); capped = truncated
            outcome = pd.crosstab(videos["policy"], videos["split"], margins=True, margins_name="total")
            sec.tables.append(
                ("Sampling outcome per video (store)", outcome.rename_axis(index="policy", columns=None).reset_index())
            )
            t = videos["num_samples"]
            sec.facts.append(("store: frames per video (min / median / max)",
                              f"{t.min()} / {t.median():g} / {t.max()}"))  # fmt: skip
    metrics_path = features / "metrics.json"
    if metrics_path.is_file():
        for key, value in read_json(metrics_path).items():
            sec.facts.append((key.replace("_", " "), _shown(value)))
    else:
        sec.missing.append(f"{metrics_path} not found")
    _read_failures(features / "failures.csv", sec, "Videos extraction could not decode")
    return sec


# --------------------------------------------------------------------------------------------------------
# Plots


def _save(fig: Any, path: Path) -> None:
    # Fixed metadata: matplotlib would otherwise stamp its version, changing bytes across installs.
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], title: str, path: Path) -> None:
    n = len(classes)
    size = min(3.0 + 0.32 * n, 18.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=list(range(n)), display_labels=list(classes), ax=ax, colorbar=False,
        include_values=n <= 30, xticks_rotation="vertical", cmap="Blues",
    )  # fmt: skip
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def plot_curve(curve: pd.DataFrame, title: str, path: Path) -> bool:
    """Loss and validation accuracy against step, one line per repeat; False when there is nothing to plot."""
    if curve["step"].nunique() < 2:
        return False
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    for r, part in curve.sort_values(["repeat", "step"]).groupby("repeat"):
        first = r == curve["repeat"].min()
        alpha = 1.0 if first else 0.35
        for col, colour in (("train_loss", "tab:blue"), ("val_loss", "tab:orange")):
            if col in part and part[col].notna().any():
                ax_loss.plot(part["step"], part[col], color=colour, alpha=alpha, label=col if first else None)
        if "val_accuracy" in part and part["val_accuracy"].notna().any():
            ax_acc.plot(part["step"], part["val_accuracy"], color="tab:green", alpha=alpha)
    ax_loss.set(xlabel="step", ylabel="loss", title=f"{title}: loss")
    ax_loss.legend(loc="upper right", fontsize="small")
    ax_acc.set(xlabel="step", ylabel="val accuracy", title=f"{title}: validation accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    return True


# --------------------------------------------------------------------------------------------------------
# Tables


def _csv_value(x: Any) -> Any:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, float | np.floating):
        return f"{float(x):.6g}"
    return x


def display_table(cmp: Comparison) -> pd.DataFrame:
    """The comparison as a reader sees it: formatted strings, one row per head."""
    multi = any((r.get("repeats") or 0) > 1 for r in cmp.rows)
    out = []
    for r in cmp.rows:
        d: dict[str, str] = {"head": r["head"], "type": r["type"] + (" (order-blind)" if r["order_blind"] else "")}
        for m, title in METRIC_TITLES.items():
            if r.get(m) is None:
                d[title] = "–"
                continue
            cell = f"{100 * r[m]:.1f}"
            if multi and r.get(f"{m}_std") is not None:
                cell += f" ±{100 * r[f'{m}_std']:.1f}"
            # second line: the interval (HTML shows it smaller; Markdown joins the lines)
            d[title] = cell + f"\n[{100 * r[f'{m}_low']:.1f}, {100 * r[f'{m}_high']:.1f}]"
        d["log-loss"] = "–" if r.get("log_loss") is None else f"{r['log_loss']:.3f}"
        d["above chance"] = (
            "–" if r.get("above_chance_p") is None
            else f"{'yes' if r['above_chance'] else 'no'}\np {_p_relation(r['above_chance_p'])}"
        )  # fmt: skip
        if r.get("delta_top1") is not None:
            d["Δ top-1 vs baseline"] = (
                f"{100 * r['delta_top1']:+.1f}\n[{100 * r['delta_top1_low']:+.1f}, {100 * r['delta_top1_high']:+.1f}]"
            )
            d["McNemar p"] = f"{_fmt_p(r['mcnemar_p'])}\n{r['mcnemar_head_only']} vs {r['mcnemar_baseline_only']}"
        else:
            d["Δ top-1 vs baseline"] = "baseline" if r.get("baseline") == "(this head)" else "–"
            d["McNemar p"] = "–"
        d["fit s"] = "–" if r.get("fit_seconds") is None else f"{r['fit_seconds']:.2f}"
        d["ms/video"] = "–" if r.get("inference_ms_per_video") is None else f"{r['inference_ms_per_video']:.2f}"
        d["parameters"] = "–" if r.get("parameters") is None else f"{int(r['parameters']):,}"
        if r["status"] != "ok":
            d["head"] += " (missing)"
        out.append(d)
    return pd.DataFrame(out)


def _fmt_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "–"
    return f"{p:.2g}" if p >= 1e-4 else "< 1e-4"


def _p_relation(p: float | None) -> str:
    text = _fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def pair_table(cmp: Comparison) -> pd.DataFrame:
    """Within-pair accuracy: heads as rows, pairs as columns (absent pairs say so)."""
    heads = list(dict.fromkeys(r["head"] for r in cmp.pair_rows))
    data = {"head": heads}
    for p in cmp.pairs:
        col = []
        for h in heads:
            r = next(x for x in cmp.pair_rows if x["head"] == h and x["pair"] == p.label)
            if r["status"] != "ok":
                col.append(r["status"])
            else:
                col.append(_fmt_ci(statistics.Interval(r["accuracy"], r["low"], r["high"])))
        data[p.label] = col
    if any(p.status == "ok" for p in cmp.pairs):
        data["all pairs"] = [
            _fmt_ci(statistics.Interval(cmp.row(h)["order_pairs"], cmp.row(h)["order_pairs_low"],
                                        cmp.row(h)["order_pairs_high"]))
            if cmp.row(h).get("order_pairs") is not None else "–"
            for h in heads
        ]  # fmt: skip
    return pd.DataFrame(data)


def markdown_table(df: pd.DataFrame) -> str:
    def cell(x: Any) -> str:
        # a second line (interval, p-value, counts) joins the first: "[...]" as is, anything else in brackets
        first, _, rest = str(x).replace("|", "\\|").partition("\n")
        rest = rest.replace("\n", " ")
        return first if not rest else f"{first} {rest}" if rest.startswith("[") else f"{first} ({rest})"

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def html_table(df: pd.DataFrame, heat: Sequence[str] = (), cls: str = "") -> str:
    """An HTML table; columns named in ``heat`` (values in [0, 1]) are shaded white→green."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row, strict=True):
            if c in heat and isinstance(v, float | int) and not (isinstance(v, float) and math.isnan(v)):
                style = f' style="background:hsl(130,55%,{97 - 42 * float(v):.0f}%)"'
                cells.append(f"<td class=num{style}>{100 * float(v):.0f}%</td>")
            else:
                text = "–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                first, _, rest = html.escape(text).partition("\n")
                sub = f"<br><span class=sub>{rest.replace(chr(10), '<br>')}</span>" if rest else ""
                cells.append(f"<td>{first}{sub}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# --------------------------------------------------------------------------------------------------------
# HTML page

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:2em auto;max-width:1400px;
 padding:0 1.5em;color:#1d2330;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #d7dde8;padding-bottom:.2em;margin-top:2em}
.headline{background:#eef5ff;border-left:5px solid #2f6fdf;padding:.8em 1.2em;border-radius:4px}
.headline li{margin:.35em 0}
.problems{background:#fff4e5;border-left:5px solid #e08a00;padding:.6em 1.2em;border-radius:4px}
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}
th,td{border:1px solid #d7dde8;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f1f4f9} tbody tr:nth-child(even){background:#fafbfd}
td.num{text-align:right} .sub{color:#667;font-size:.86em;white-space:nowrap}
table.comparison td{white-space:nowrap}
.grid{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;border:1px solid #e3e7ef;padding:.5em;border-radius:4px;background:#fff}
figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:.85em;color:#555;margin-top:.3em}
.facts td:first-child{color:#555;white-space:nowrap}
.note{color:#555;font-size:.9em}
"""


def _md_to_html(text: str) -> str:
    parts = html.escape(text).split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def _img(path: Path, alt: str, width: int | None = None) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    w = f' style="width:{width}px"' if width else ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"{w}>'


def _section_html(sec: Section) -> str:
    parts = []
    if sec.missing:
        items = "".join(f"<li>{html.escape(m)}</li>" for m in sec.missing)
        parts.append(f'<div class="problems"><strong>Missing input</strong><ul>{items}</ul></div>')
    if sec.facts:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in sec.facts)
        parts.append(f'<table class="facts"><tbody>{rows}</tbody></table>')
    for title, df in sec.tables:
        parts.append(f"<h3>{html.escape(title)}</h3>{html_table(df)}")
    return "".join(parts)


def methods_text(cmp: Comparison) -> list[str]:
    s = cmp.settings
    conf = f"{100 * s['confidence']:g}%"
    return [
        f"Intervals: {conf} percentile bootstrap over the {len(cmp.test_ids)} test videos, {s['bootstrap']} "
        f"resamples seeded with params seed = {s['seed']}; every head is scored on the same resamples. With "
        "several training repeats a metric is the mean over repeats (± its standard deviation across repeats) "
        "and each resample scores every repeat on the same videos.",
        f"Above chance: one-sided exact binomial test of repeat 0's test top-1 against the chance rate "
        f"{_fmt_pct(cmp.chance)} (the largest test-class share, at least 1/C: what always guessing one class "
        f"scores), at level {1 - s['confidence']:.2g}.",
        f"Baseline: {cmp.baseline_rule}"
        + (f" — {cmp.baseline}." if cmp.baseline else ".")
        + " Δ top-1 is the paired bootstrap difference (head − baseline) of repeat-mean correctness; McNemar p is "
        "the exact two-sided McNemar test (binomial on discordant videos, not mid-p) on repeat 0, under it "
        "the discordant counts: videos only this head got right vs only the baseline.",
        "Within-pair accuracy: over test videos whose true class is a or b, the prediction is whichever of p(a) "
        "and p(b) is larger, so it measures telling the two apart regardless of other classes. Appearance "
        "accuracy is ordinary top-1 on test videos of classes in no pair.",
        "Winners: the head with the highest mean; tied heads are those whose paired bootstrap interval of the "
        "difference to the winner includes 0.",
    ]


def render_html(
    cmp: Comparison,
    dataset: Section,
    extraction: Section,
    confusion_pngs: Mapping[str, Path],
    curve_pngs: Mapping[str, Path],
) -> str:
    lines = headline(cmp)
    h: list[str] = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>framecache report</title><style>{CSS}</style></head><body>",
        "<h1>framecache report</h1>",
        f"<p class=note>{len(cmp.rows)} heads, {len(cmp.classes)} classes, {len(cmp.test_ids)} test videos.</p>",
        '<div class="headline"><ul>' + "".join(f"<li>{_md_to_html(x)}</li>" for x in lines) + "</ul></div>",
    ]
    if cmp.problems:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in cmp.problems)
        h.append(f'<div class="problems" style="margin-top:1em"><strong>Warnings</strong><ul>{items}</ul></div>')
    h += [
        "<h2 id=comparison>Comparison</h2>",
        "<p class=note>Test-set metrics in %, each with its "
        f"{100 * cmp.settings['confidence']:g}% bootstrap interval [low, high]"
        + (" and ± std across repeats" if any((r.get("repeats") or 0) > 1 for r in cmp.rows) else "")
        + ".</p>",
        html_table(display_table(cmp), cls="comparison"),
        "<ul class=note>" + "".join(f"<li>{html.escape(m)}</li>" for m in methods_text(cmp)) + "</ul>",
        "<h2 id=pairs>Order-only pairs: within-pair accuracy</h2>",
        html_table(pair_table(cmp)) if cmp.pairs else "<p>No class pairs configured (report.class_pairs).</p>",
        "<h2 id=per-class>Per-class test accuracy</h2>",
        html_table(
            pd.DataFrame(cmp.per_class_rows).rename(columns={"test_videos": "test videos"}),
            heat=[r["head"] for r in cmp.rows],
        ),
        "<h2 id=confusion>Confusion matrices (test, repeat 0)</h2><div class=grid>",
    ]
    for name, png in confusion_pngs.items():
        h.append(f"<figure>{_img(png, f'confusion matrix of {name}', 380)}<figcaption>{html.escape(name)}"
                 "</figcaption></figure>")  # fmt: skip
    h.append("</div><h2 id=curves>Training curves</h2>")
    no_curve = [r["head"] for r in cmp.rows if r["head"] not in curve_pngs]
    if no_curve:
        h.append(f"<p class=note>No multi-step training curve (closed-form fit or missing curve.csv): "
                 f"{html.escape(', '.join(no_curve))}.</p>")  # fmt: skip
    h.append("<div class=grid>")
    for name, png in curve_pngs.items():
        h.append(f"<figure>{_img(png, f'training curve of {name}', 580)}<figcaption>{html.escape(name)}"
                 "</figcaption></figure>")  # fmt: skip
    h += [
        "</div>",
        "<h2 id=dataset>Dataset</h2>",
        _section_html(dataset),
        "<h2 id=extraction>Feature extraction</h2>",
        _section_html(extraction),
        "</body></html>",
    ]
    return "\n".join(h) + "\n"


def markdown_report(cmp: Comparison) -> str:
    parts = ["# framecache comparison", ""]
    parts += [f"- {x}" for x in headline(cmp)]
    parts += ["", markdown_table(display_table(cmp))]
    if cmp.pairs:
        parts += ["## Within-pair accuracy", "", markdown_table(pair_table(cmp))]
    parts += ["## Method", ""] + [f"- {m}" for m in methods_text(cmp)]
    if cmp.problems:
        parts += ["", "## Warnings", ""] + [f"- {p}" for p in cmp.problems]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------------------
# The whole report


def write_report(cmp: Comparison, dataset: Section, extraction: Section, out: Path) -> dict[str, Any]:
    """Write every report file into ``out``; returns the summary metrics."""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "comparison.csv", ({c: _csv_value(r.get(c)) for c in COMPARISON_COLUMNS} for r in cmp.rows),
              COMPARISON_COLUMNS)  # fmt: skip
    write_text(out / "comparison.md", markdown_report(cmp))
    write_csv(out / "pairs.csv", ({c: _csv_value(r.get(c)) for c in PAIR_COLUMNS} for r in cmp.pair_rows),
              PAIR_COLUMNS)  # fmt: skip
    pc_cols = ["class", "kind", "test_videos", *[r["head"] for r in cmp.rows if r["status"] == "ok"]]
    write_csv(out / "per_class.csv", ({c: _csv_value(r.get(c)) for c in pc_cols} for r in cmp.per_class_rows),
              pc_cols)  # fmt: skip

    confusion_pngs: dict[str, Path] = {}
    curve_pngs: dict[str, Path] = {}
    by_name = {h.name: h for h in cmp.heads}
    for r in cmp.rows:
        if r["status"] != "ok":
            continue
        head = by_name[r["head"]]
        _, y, proba = _aligned(head, "test", cmp.test_ids)
        pred = np.argmax(proba[0], axis=1)
        write_csv(
            out / "confusion" / f"{head.name}.csv",
            ({"actual": cmp.classes[a], "predicted": cmp.classes[p]} for a, p in zip(y, pred, strict=True)),
            ["actual", "predicted"],
        )
        png = out / "confusion" / f"{head.name}.png"
        title = f"{head.name}: test, repeat 0 (top-1 {_fmt_pct(float(np.mean(pred == y)))})"
        plot_confusion(y, pred, cmp.classes, title, png)
        confusion_pngs[head.name] = png
        if head.curve is not None and plot_curve(head.curve, head.name, out / "curves" / f"{head.name}.png"):
            curve_pngs[head.name] = out / "curves" / f"{head.name}.png"

    write_text(out / "report.html", render_html(cmp, dataset, extraction, confusion_pngs, curve_pngs))
    summary = summary_metrics(cmp)
    write_json(out / "summary.json", summary)
    return summary


def build_report(
    params: Mapping[str, Any], prepared: Path, features: Path, store: Path, models: Path, out: Path
) -> dict[str, Any]:
    """Read the train stages' outputs for ``params.train.heads`` and write the full report into ``out``."""
    rep = params["report"]
    classes = read_classes(prepared)
    heads = []
    for name in params["train"]["heads"]:
        res, classes = load_head_result(models, name, params["heads"][name], classes)
        heads.append(res)
    if classes is None:
        raise FramecacheError(f"no classes: {prepared / 'classes.txt'} is missing and no head has predictions")
    cmp = compare(heads, classes, rep["class_pairs"], rep["bootstrap"], rep["confidence"], params["seed"])
    for p in cmp.problems:
        log.warning("%s", p)
    return write_report(cmp, dataset_section(prepared, heads), extraction_section(features, store), out)
