"""The comparison of trained heads, computed once: every usable head scored on the same test videos with
intervals, an above-chance test, paired contrasts against the order-blind baseline, within-pair and
other-class accuracy, per-class accuracy and the heads chosen on validation. Writers only format it.

Every bootstrap resamples the *same* groups of test videos for every head (one
:class:`~framecache.evaluation.design.GroupDesign`), so two heads' intervals and their difference are paired.
Families of tests (every head against chance; every head against the baseline) are Holm-corrected here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from framecache.errors import FramecacheError
from framecache.evaluation import intervals, statistics
from framecache.evaluation.design import GroupDesign
from framecache.evaluation.metrics import classification_metrics, mean_std
from framecache.report.pairs import PairSpec, absent_note, check_pairs, pair_rows, within_pair_correct
from framecache.report.results import HeadResult
from framecache.report.selection import (
    ALL,
    OTHER,
    PAIRS,
    Validation,
    Winner,
    choose_baseline,
    validation_scores,
    winner,
)
from framecache.report.testset import align_test, common_test_set

COST_KEYS = ("fit_seconds", "inference_ms_per_video", "parameters", "truncated_videos")
TOP5_MIN_CLASSES = 6  # top-5 is shown only with more than 5 classes (else it is 100% by construction)


@dataclass
class Comparison:
    """Everything the report shows, computed once; writers only format it."""

    classes: list[str]
    heads: list[HeadResult]
    test_ids: list[str]
    y_test: np.ndarray
    n_groups: int
    rows: list[dict[str, Any]]
    pairs: list[PairSpec]  # the configured pairs present in this dataset
    pair_rows: list[dict[str, Any]]
    per_class_rows: list[dict[str, Any]]
    other_classes: list[str]  # classes in no pair (the "appearance" classes of the demo)
    winners: dict[str, Winner]  # ALL, and PAIRS / OTHER when pairs are present
    baseline: str | None
    baseline_rule: str
    chance: float
    settings: dict[str, Any]
    problems: list[str]
    out_of_fold: str | None = None  # under group k-fold: how the "test" predictions were made, in words
    evaluation_reason: str | None = None  # which protocol train.evaluation ran and why (metrics.json), in words

    def row(self, head: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["head"] == head)

    @property
    def has_pairs(self) -> bool:
        return bool(self.pairs)

    @property
    def shows_top5(self) -> bool:
        return len(self.classes) >= TOP5_MIN_CLASSES

    @property
    def grouped(self) -> bool:
        return self.n_groups < len(self.test_ids)


@dataclass
class _Scores:
    """Per-video test scores of the usable heads, shared by every row and test."""

    y: np.ndarray
    proba: dict[str, np.ndarray]  # (R, N, C) per head
    correct: dict[str, np.ndarray]  # (R, N) top-1 correctness per head
    pair_correct: dict[str, np.ndarray]  # (R, N) within-pair correctness, 0 outside the pairs
    pair_mask: np.ndarray  # (N,) test videos of a scorable pair
    other_mask: np.ndarray  # (N,) test videos of a class in no pair
    design: GroupDesign


def _metric_intervals(h: str, s: _Scores, n_classes: int) -> dict[str, Any]:
    """top-1 and top-5 as shares of videos (exact / cluster-aware), mean class accuracy and macro-F1 from the
    cluster bootstrap widened to the exact interval; each with ± std over repeats (ddof=1)."""
    proba, d = s.proba[h], s.design
    boot = statistics.bootstrap_metrics(s.y, list(proba), len(d.weights), d.confidence, 0, weights=d.weights)
    per_repeat = [classification_metrics(s.y, p) for p in proba]
    top = np.argsort(-proba, axis=2, kind="stable")[:, :, : min(5, n_classes)]
    in_top5 = np.any(top == s.y[None, :, None], axis=2).astype(np.float64)
    shown = {
        "top1": d.share(s.correct[h].mean(0)),
        "top5": d.share(in_top5.mean(0)) if n_classes >= TOP5_MIN_CLASSES else None,
        "mean_class_accuracy": d.widen(boot["mean_class_accuracy"]),
        "macro_f1": d.widen(boot["macro_f1"]),
    }
    row: dict[str, Any] = {}
    for m, iv in shown.items():
        if iv is None:
            continue
        _, std = mean_std([r[m] for r in per_repeat])
        row.update({m: iv.point, f"{m}_low": iv.low, f"{m}_high": iv.high, f"{m}_std": std if len(proba) > 1 else None})
    loss, loss_std = mean_std([r["log_loss"] for r in per_repeat])
    row.update({"log_loss": loss, "log_loss_std": loss_std if len(proba) > 1 else None})
    return row


def _head_row(h: HeadResult, s: _Scores, chance: float, baseline: str | None, n_classes: int) -> dict[str, Any]:
    """The comparison.csv row of one head: metrics with intervals and std, chance test, baseline contrast."""
    row: dict[str, Any] = {
        "head": h.name, "type": h.type, "order_blind": h.order_blind,
        **{k: h.metrics.get(k) for k in COST_KEYS},
        "repeats": None, "test_videos": None, "test_groups": None, "status": "ok" if h.name in s.proba else "missing",
    }  # fmt: skip
    if h.name not in s.proba:
        return row
    correct, d = s.correct[h.name], s.design
    row.update({"repeats": correct.shape[0], "test_videos": d.n_videos, "test_groups": d.n_groups})
    row.update(_metric_intervals(h.name, s, n_classes))
    test = d.chance(correct[0], chance)
    row.update({"chance": chance, "above_chance_p": test.p_value})
    if s.pair_mask.any():
        for key, mask, scores in (
            ("order_pairs", s.pair_mask, s.pair_correct[h.name]),
            ("appearance", s.other_mask, correct),
        ):
            if mask.any():
                iv = d.subset(mask).share(scores.mean(0)[mask])
                row.update({key: iv.point, f"{key}_low": iv.low, f"{key}_high": iv.high})
    if baseline is not None and h.name != baseline:
        pb = d.contrast(correct.mean(0), s.correct[baseline].mean(0))
        mc = d.mcnemar(correct[0], s.correct[baseline][0])
        row.update({
            "baseline": baseline, "delta_top1": pb.diff.point, "delta_top1_low": pb.diff.low,
            "delta_top1_high": pb.diff.high, "delta_top1_p": pb.p_value,
            "mcnemar_head_only": mc.only_a, "mcnemar_baseline_only": mc.only_b, "mcnemar_p": mc.p_value,
        })  # fmt: skip
    elif h.name == baseline:
        row["baseline"] = "(this head)"
    return row


def _holm_columns(rows: list[dict[str, Any]], alpha: float) -> None:
    """Holm-adjusted p of each family, next to the raw p: above chance (every scored head), and the contrasts
    with the baseline (Δ top-1 bootstrap p and McNemar p, each its own family)."""
    for key in ("above_chance_p", "delta_top1_p", "mcnemar_p"):
        adjusted = intervals.holm([r.get(key) for r in rows])
        for r, p in zip(rows, adjusted, strict=True):
            r[f"{key}_holm"] = p
    for r in rows:
        if r.get("above_chance_p_holm") is not None:
            r["above_chance"] = bool(r["above_chance_p_holm"] < alpha)


def _per_class_rows(classes: list[str], pairs: list[PairSpec], s: _Scores, order: list[str]) -> list[dict[str, Any]]:
    """Test accuracy of every head on every class (mean over repeats), and the class's kind when pairs exist."""
    rows = []
    pair_of = {c: p.label for p in pairs for c in (p.a, p.b)}
    for ci, c in enumerate(classes):
        mask = s.y == ci
        row: dict[str, Any] = {"class": c}
        if pairs:
            row["kind"] = f"pair {pair_of[c]}" if c in pair_of else "appearance"
        row["test_videos"] = int(mask.sum())
        for h in order:
            row[h] = float(s.correct[h][:, mask].mean()) if mask.any() else None
        rows.append(row)
    return rows


def _winners(
    s: _Scores, order: list[str], baselines: list[str], val: Validation, temporal: list[str]
) -> dict[str, Winner]:
    """The heads chosen on validation for all test videos and, with pairs, for the pairs and the other classes."""
    subsets = [(ALL, np.ones(len(s.y), dtype=bool), s.correct)]
    if s.pair_mask.any():
        subsets += [(PAIRS, s.pair_mask, s.pair_correct), (OTHER, s.other_mask, s.correct)]
    found = {}
    for subset, mask, scores in subsets:
        if mask.any():
            per_video = {h: scores[h].mean(0)[mask] for h in order}
            found[subset] = winner(subset, per_video, s.design.subset(mask), order, baselines, val, temporal)
    return found


def _out_of_fold(usable: Sequence[HeadResult]) -> str | None:
    """What the test rows are under ``train.evaluation: group_kfold`` (from metrics.json), else None."""
    folds = sorted({str(h.metrics.get("folds", "?")) for h in usable if h.metrics.get("evaluation") == "group_kfold"})
    if not folds:
        return None
    return (
        f"group k-fold ({' / '.join(folds)} folds): the test videos are every video, each predicted once, out of "
        "fold, by a model that never saw its group"
    )


def _evaluation_reason(usable: Sequence[HeadResult]) -> str | None:
    """Why the heads were evaluated as they were (``evaluation_reason`` in metrics.json; several when they differ)."""
    reasons = list(
        dict.fromkeys(str(h.metrics["evaluation_reason"]) for h in usable if h.metrics.get("evaluation_reason"))
    )
    return "; ".join(reasons) or None


def compare(
    heads: Sequence[HeadResult],
    classes: Sequence[str],
    class_pairs: Sequence[Sequence[str]],
    n_boot: int,
    confidence: float,
    seed: int,
    groups: Mapping[str, str] | None = None,
) -> Comparison:
    """Score every usable head on the common test videos; ``groups`` maps video id to group (else one each)."""
    classes = list(classes)
    problems: list[str] = [f"{h.name}: {p}" for h in heads for p in h.problems]
    usable = [h for h in heads if h.usable]
    if not usable:
        raise FramecacheError(
            "no head has readable predictions.csv under the models folder: run the train stages first"
        )
    configured = check_pairs(class_pairs, classes)
    problems += [note] if (note := absent_note(configured)) else []
    pairs = [p for p in configured if p.status == "ok"]
    pair_classes = [classes.index(c) for p in pairs for c in (p.a, p.b)]

    common = common_test_set(usable, problems)
    groups = groups or {}
    design = GroupDesign.build([groups.get(v) or f"video:{v}" for v in common], n_boot, confidence, seed)
    y_test, probas = align_test(usable, common, problems)
    order = [h.name for h in usable]
    correct = {h: (np.argmax(p, axis=2) == y_test).astype(np.float64) for h, p in probas.items()}  # (R, N)
    pair_mask, pair_correct = within_pair_correct(pairs, probas, y_test)
    s = _Scores(y_test, probas, correct, pair_correct, pair_mask, ~np.isin(y_test, pair_classes), design)

    val = validation_scores(usable, pairs, pair_classes)
    if val.scores and (blind := [h.name for h in usable if h.name not in val.scores]):
        problems.append(f"no validation predictions, so never chosen as a named head: {', '.join(blind)}")
    base = choose_baseline(usable, val, {h: float(c.mean()) for h, c in correct.items()})
    problems += [base.problem] if base.problem else []
    chance = statistics.chance_rate(y_test, len(classes))
    rows = [_head_row(h, s, chance, base.name, len(classes)) for h in heads]
    _holm_columns(rows, design.alpha)
    return Comparison(
        classes=classes, heads=list(heads), test_ids=common, y_test=y_test, n_groups=design.n_groups, rows=rows,
        pairs=pairs, pair_rows=pair_rows(order, pairs, pair_correct, y_test, design),
        per_class_rows=_per_class_rows(classes, pairs, s, order),
        other_classes=[c for c in classes if classes.index(c) not in pair_classes],
        winners=_winners(s, order, base.candidates, val, [h.name for h in usable if not h.order_blind]),
        baseline=base.name, baseline_rule=base.rule,
        chance=chance, settings={"bootstrap": n_boot, "confidence": confidence, "seed": seed}, problems=problems,
        out_of_fold=_out_of_fold(usable), evaluation_reason=_evaluation_reason(usable),
    )  # fmt: skip
