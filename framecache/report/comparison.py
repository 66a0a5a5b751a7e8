"""The comparison of trained heads, computed once: every usable head scored on the same test videos with
bootstrap CIs, an above-chance test, paired contrasts against the order-blind baseline, within-pair and
appearance accuracy, per-class accuracy and the winners. Writers (tables, Markdown, the page) only format it.

Every interval resamples the *same* test videos for every head (one matrix of resample counts, from
:mod:`framecache.evaluation.statistics`), so two heads' intervals and their difference are paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from framecache.errors import FramecacheError
from framecache.evaluation import statistics
from framecache.evaluation.metrics import classification_metrics
from framecache.report.baseline import Winner, choose_baseline, winner
from framecache.report.pairs import PairSpec, check_pairs, pair_rows, within_pair_correct
from framecache.report.results import TEST, HeadResult, aligned

COST_KEYS = ("fit_seconds", "inference_ms_per_video", "parameters", "truncated_videos")


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


@dataclass
class _Scores:
    """Per-video test scores of the usable heads, shared by every row and test."""

    y: np.ndarray
    proba: dict[str, np.ndarray]  # (R, N, C) per head
    correct: dict[str, np.ndarray]  # (R, N) top-1 correctness per head
    pair_correct: dict[str, np.ndarray]  # (R, N) within-pair correctness, 0 outside the pairs
    pair_mask: np.ndarray  # (N,) test videos of a scorable pair
    app_mask: np.ndarray  # (N,) test videos of an appearance class
    weights: np.ndarray  # (B, N) shared bootstrap resample counts
    confidence: float


def _common_test_set(usable: list[HeadResult], problems: list[str]) -> list[str]:
    """The test videos every head predicted (heads without test rows are dropped from ``usable``): paired tests
    need every head scored on the same videos."""
    id_sets = []
    for h in list(usable):
        assert h.predictions is not None
        test = h.predictions[h.predictions["split"] == TEST]
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
    return common


def _align_test(
    usable: list[HeadResult], common: list[str], problems: list[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Test labels and each head's (R, N, C) probabilities on ``common``; heads that disagree are dropped."""
    probas: dict[str, np.ndarray] = {}
    y_test = None
    for h in list(usable):
        try:
            _, y, proba = aligned(h, TEST, common)
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
        probas[h.name] = proba
    assert y_test is not None
    return y_test, probas


def _head_row(h: HeadResult, s: _Scores, n_boot: int, seed: int, chance: float, baseline: str | None) -> dict[str, Any]:
    """The comparison.csv row of one head: metrics with CIs and std, chance test, contrast with the baseline."""
    row: dict[str, Any] = {
        "head": h.name, "type": h.type, "order_blind": h.order_blind,
        **{k: h.metrics.get(k) for k in COST_KEYS},
        "repeats": None, "test_videos": None, "status": "ok" if h.name in s.proba else "missing",
    }  # fmt: skip
    if h.name not in s.proba:
        return row
    proba, correct, conf = s.proba[h.name], s.correct[h.name], s.confidence
    row["repeats"], row["test_videos"] = proba.shape[0], proba.shape[1]
    boot = statistics.bootstrap_metrics(s.y, list(proba), n_boot, conf, seed, weights=s.weights)
    per_repeat = [classification_metrics(s.y, p) for p in proba]
    for m, iv in boot.items():
        std = float(np.std([r[m] for r in per_repeat])) if len(per_repeat) > 1 else None
        row.update({m: iv.point, f"{m}_low": iv.low, f"{m}_high": iv.high, f"{m}_std": std})
    row["log_loss"] = float(np.mean([r["log_loss"] for r in per_repeat]))
    row["log_loss_std"] = float(np.std([r["log_loss"] for r in per_repeat])) if len(per_repeat) > 1 else None
    test = statistics.above_chance(correct[0].astype(bool), chance, 1.0 - conf)
    row.update({"chance": chance, "above_chance_p": test.p_value, "above_chance": test.above})
    for key, mask, scores in (
        ("order_pairs", s.pair_mask, s.pair_correct[h.name]),
        ("appearance", s.app_mask, correct),
    ):
        if mask.any():
            iv = statistics.mean_interval(scores.mean(0)[mask], s.weights[:, mask], conf)
            row.update({key: iv.point, f"{key}_low": iv.low, f"{key}_high": iv.high})
    if baseline is not None and h.name != baseline:
        pb = statistics.paired_bootstrap(correct.mean(0), s.correct[baseline].mean(0), s.weights, conf)
        mc = statistics.mcnemar(correct[0].astype(bool), s.correct[baseline][0].astype(bool))
        row.update({
            "baseline": baseline, "delta_top1": pb.diff.point, "delta_top1_low": pb.diff.low,
            "delta_top1_high": pb.diff.high, "delta_top1_p": pb.p_value,
            "mcnemar_head_only": mc.only_a, "mcnemar_baseline_only": mc.only_b, "mcnemar_p": mc.p_value,
        })  # fmt: skip
    elif h.name == baseline:
        row["baseline"] = "(this head)"
    return row


def _per_class_rows(classes: list[str], pairs: list[PairSpec], s: _Scores, order: list[str]) -> list[dict[str, Any]]:
    """Test accuracy of every head on every class (mean over repeats), and the class's kind."""
    rows = []
    pair_of = {c: p.label for p in pairs if p.status == "ok" for c in (p.a, p.b)}
    for ci, c in enumerate(classes):
        mask = s.y == ci
        row = {"class": c, "kind": f"pair {pair_of[c]}" if c in pair_of else "appearance",
               "test_videos": int(mask.sum())}  # fmt: skip
        for h in order:
            row[h] = float(s.correct[h][:, mask].mean()) if mask.any() else None
        rows.append(row)
    return rows


def _winners(s: _Scores, order: list[str], baselines: list[str]) -> tuple[Winner | None, Winner | None]:
    """The winners on the order-only pairs (within-pair accuracy) and on the appearance classes (top-1)."""
    found = []
    for subset, mask, scores in (
        ("order-only pairs", s.pair_mask, s.pair_correct),
        ("appearance classes", s.app_mask, s.correct),
    ):
        if not mask.any():
            found.append(None)
            continue
        per_video = {h: scores[h].mean(0)[mask] for h in order}
        found.append(winner(subset, per_video, s.weights[:, mask], s.confidence, order, baselines))
    return found[0], found[1]


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
    problems: list[str] = [f"{h.name}: {p}" for h in heads for p in h.problems]
    usable = [h for h in heads if h.usable]
    if not usable:
        raise FramecacheError(
            "no head has readable predictions.csv under the models folder: run the train stages first"
        )
    pairs = check_pairs(class_pairs, classes)
    problems += [f"class pair {p.label}: {p.status}" for p in pairs if p.status != "ok"]
    in_pairs = {c for p in pairs if p.status == "ok" for c in (p.a, p.b)}
    appearance = [c for c in classes if c not in in_pairs]

    common = _common_test_set(usable, problems)
    weights = statistics.resample_counts(len(common), n_boot, seed)
    y_test, probas = _align_test(usable, common, problems)
    order = [h.name for h in usable]
    correct = {h: (np.argmax(p, axis=2) == y_test).astype(np.float64) for h, p in probas.items()}  # (R, N)
    pair_mask, pair_correct = within_pair_correct(pairs, probas, y_test)
    app_mask = np.isin(y_test, [classes.index(c) for c in appearance])
    s = _Scores(y_test, probas, correct, pair_correct, pair_mask, app_mask, weights, confidence)

    base = choose_baseline(usable, correct)
    if base.problem:
        problems.append(base.problem)
    chance = statistics.chance_rate(y_test, len(classes))
    rows = [_head_row(h, s, n_boot, seed, chance, base.name) for h in heads]
    order_winner, app_winner = _winners(s, order, base.candidates)
    return Comparison(
        classes=classes, heads=list(heads), test_ids=common, y_test=y_test, rows=rows, pairs=pairs,
        pair_rows=pair_rows(order, pairs, pair_correct, y_test, weights, confidence),
        per_class_rows=_per_class_rows(classes, pairs, s, order), appearance_classes=appearance,
        order_winner=order_winner, appearance_winner=app_winner, baseline=base.name, baseline_rule=base.rule,
        chance=chance, settings={"bootstrap": n_boot, "confidence": confidence, "seed": seed}, problems=problems,
    )  # fmt: skip
