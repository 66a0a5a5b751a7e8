"""Order-only class pairs (``report.class_pairs``): classes that differ only in frame order, such as
zoom in / zoom out. A head that ignores frame order cannot tell the two apart, so the report scores every
head *within* each pair: over the test videos of class a or b, is p(a) vs p(b) the right way round?
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from framecache.errors import FramecacheError
from framecache.evaluation.design import GroupDesign
from framecache.evaluation.metrics import mean_std


@dataclass
class PairSpec:
    a: str
    b: str
    status: str  # "ok", or why the pair cannot be scored
    indices: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        return f"{self.a} / {self.b}"


def check_pairs(class_pairs: Sequence[Sequence[str]], classes: Sequence[str]) -> list[PairSpec]:
    """The configured pairs, each scorable ("ok") or saying why not; a class named twice is a params error."""
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


def within_pair_correct(
    pairs: Sequence[PairSpec], aligned: Mapping[str, np.ndarray], y_test: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(mask of test videos in a scorable pair (N,), per head the within-pair correctness (R, N), 0 elsewhere)."""
    pair_mask = np.zeros(len(y_test), dtype=bool)
    correct = {h: np.zeros(p.shape[:2], dtype=np.float64) for h, p in aligned.items()}
    for p in pairs:
        if p.status != "ok":
            continue
        ia, ib = p.indices  # type: ignore[misc]
        mask = (y_test == ia) | (y_test == ib)
        pair_mask |= mask
        for h, proba in aligned.items():
            # argmax between the two classes only; ties go to the first class, as in np.argmax
            within = np.where(proba[:, :, ia] >= proba[:, :, ib], ia, ib)
            correct[h][:, mask] = (within[:, mask] == y_test[mask]).astype(np.float64)
    return pair_mask, correct


def pair_rows(
    order: Sequence[str],
    pairs: Sequence[PairSpec],
    pair_correct: Mapping[str, np.ndarray],
    y_test: np.ndarray,
    design: GroupDesign,
) -> list[dict[str, Any]]:
    """One row per (head, scorable pair): within-pair accuracy with its interval (pairs.csv)."""
    rows = []
    for h in order:
        for p in pairs:
            if p.status != "ok":
                continue
            ia, ib = p.indices  # type: ignore[misc]
            mask = (y_test == ia) | (y_test == ib)
            row: dict[str, Any] = {"head": h, "pair": p.label, "status": p.status, "test_videos": int(mask.sum())}
            if mask.any():
                sub = design.subset(mask)
                iv = sub.share(pair_correct[h].mean(0)[mask])
                _, std = mean_std(pair_correct[h][:, mask].mean(axis=1))
                row.update({"accuracy": iv.point, "low": iv.low, "high": iv.high, "test_groups": sub.n_groups})
                row["std"] = std if pair_correct[h].shape[0] > 1 else None
            else:
                row["status"] = "no test videos"
            rows.append(row)
    return rows


def absent_note(pairs: Sequence[PairSpec]) -> str | None:
    """One line naming the configured pairs this dataset lacks (left out of every table), or None."""
    absent = [p.label for p in pairs if p.status != "ok"]
    if not absent:
        return None
    return f"class pairs of report.class_pairs not in this dataset, left out: {'; '.join(absent)}"
