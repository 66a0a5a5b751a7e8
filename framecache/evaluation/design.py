"""The test set as a sampling design: which videos belong together (groups) and one shared matrix of cluster
resample counts, so every interval and paired test of every head is computed on the same resamples of groups.

:class:`GroupDesign` is what the report hands its statistics: ``share`` for shares of videos (exact, widened
by the cluster bootstrap when grouped), ``widen`` for bootstrap intervals of other scores in [0, 1],
``contrast`` for a paired difference of two heads, ``subset`` for the videos of some classes.

With fewer test groups than :func:`~framecache.evaluation.intervals.min_groups` (each video its own group when
none are given), what rests on resampling groups cannot be computed: bootstrap intervals and p-values are NaN
(the report says why and claims nothing from them), a share of grouped videos has no interval, and the
above-chance test of grouped videos has no p-value. Exact results that hold at any size stay: Clopper-Pearson
and the binomial test for independent videos, the sign test over groups (``mcnemar``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from framecache.evaluation import intervals, statistics

NAN = float("nan")


@dataclass(frozen=True)
class GroupDesign:
    """Group codes of the test videos (N,), cluster resample counts (B, N) and the confidence level."""

    codes: np.ndarray
    weights: np.ndarray
    confidence: float

    @classmethod
    def build(cls, groups: Sequence[object], n_boot: int, confidence: float, seed: int) -> GroupDesign:
        codes = intervals.group_codes(groups)
        return cls(codes, intervals.cluster_resample_counts(codes, n_boot, seed), confidence)

    @property
    def n_videos(self) -> int:
        return len(self.codes)

    @property
    def n_groups(self) -> int:
        return intervals.n_groups(self.codes)

    @property
    def grouped(self) -> bool:
        return intervals.is_grouped(self.codes)

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    @property
    def enough_groups(self) -> bool:
        """Are there enough groups for group-level (bootstrap) intervals and tests? See the module docstring."""
        return self.n_groups >= intervals.min_groups(self.confidence)

    def subset(self, mask: np.ndarray) -> GroupDesign:
        """The design of the videos in ``mask`` (their groups renumbered; resamples kept)."""
        return GroupDesign(intervals.group_codes(self.codes[mask]), self.weights[:, mask], self.confidence)

    def share(self, scores: np.ndarray) -> statistics.Interval:
        """Interval of a share of videos (per-video scores in [0, 1]); none for grouped videos in too few groups."""
        iv = intervals.share_interval(scores, self.weights, self.codes, self.confidence)
        return iv if self.enough_groups or not self.grouped else statistics.Interval(iv.point, NAN, NAN)

    def widen(self, iv: statistics.Interval) -> statistics.Interval:
        """A cluster-bootstrap interval of a score in [0, 1], never narrower than the exact one at this n (none
        with too few groups)."""
        if not self.enough_groups:
            return statistics.Interval(iv.point, NAN, NAN)
        return intervals.widened(iv.point, iv.low, iv.high, self.n_videos, self.confidence)

    def contrast(self, a: np.ndarray, b: np.ndarray) -> statistics.PairedBootstrap:
        """Paired cluster-bootstrap difference a − b of per-video scores, with its two-sided p (the difference
        alone, interval and p NaN, with too few groups)."""
        result = statistics.paired_bootstrap(a, b, self.weights, self.confidence)
        if self.enough_groups:
            return result
        return statistics.PairedBootstrap(statistics.Interval(result.diff.point, NAN, NAN), NAN)

    def chance(self, correct: np.ndarray, chance: float) -> statistics.ChanceTest:
        """One-sided test of top-1 above ``chance``: exact binomial, with groups also the cluster bootstrap (no
        p-value for grouped videos in too few groups)."""
        test = intervals.chance_test(correct, chance, self.weights, self.codes, self.alpha)
        if self.enough_groups or not self.grouped:
            return test
        return statistics.ChanceTest(test.correct, test.n, chance, NAN, False)

    def mcnemar(self, correct_a: np.ndarray, correct_b: np.ndarray) -> statistics.McNemar:
        return intervals.group_sign_test(correct_a, correct_b, self.codes)
