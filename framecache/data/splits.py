"""Groups and leak-free train/val/test splits of the indexed videos.

Groups come from the manifest, else from ``group_regex`` on the file name (UCF101's ``_g08_``, a group within
its class unless ``group_scope`` is ``dataset``), else each video is its own group; videos with identical
bytes are merged into one group because a copy on both sides of a split is a leak like any other. Splits come
from the manifest or the split lists when given; otherwise groups are dealt to train/val/test greedily by each
class's remaining deficit, which hits the requested fractions per class far closer than k-fold splitters can
for arbitrary fractions. A group found in two splits is an error, and so is a class missing from a split.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from framecache.data.discovery import DatasetError
from framecache.layout import SPLITS

if TYPE_CHECKING:  # the probing module loads PyAV; splitting only reads the indexed records
    from framecache.data.manifest import Indexed


def assign_groups(items: Sequence[Indexed], group_regex: str, scope: str = "class") -> list[str]:
    """Group of each video: manifest group, else regex capture on the file name, else the video itself;
    then videos with identical content are merged into one group.

    ``scope`` ``class``: a capture names a group within the video's class, ``<label>/<capture>`` (UCF101's
    ``_g08_`` of ApplyEyeMakeup and of YoYo are different actors); ``dataset``: the capture alone, one group
    across classes (a person filmed in every action).
    """
    pattern = re.compile(group_regex)
    groups = []
    for item in items:
        cand = item.candidate
        if cand.group:
            groups.append(cand.group)
            continue
        m = pattern.search(cand.file.name)
        if m is None:
            groups.append(cand.video_id)
            continue
        capture = m.group(1) if m.groups() else m.group(0)
        groups.append(f"{cand.label}/{capture}" if scope == "class" else capture)
    # union-find over "same group" and "same bytes"
    parent = {g: g for g in groups}

    def find(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    by_hash: dict[str, str] = {}
    for item, g in zip(items, groups, strict=True):
        first = by_hash.setdefault(item.sha256, g)
        a, b = find(first), find(g)
        if a != b:
            parent[max(a, b)] = min(a, b)  # deterministic representative
    return [find(g) for g in groups]


def check_no_straddle(groups: Sequence[str], splits: Sequence[str]) -> None:
    """Raise :class:`DatasetError` naming the groups found in more than one split."""
    seen: dict[str, set[str]] = defaultdict(set)
    for g, s in zip(groups, splits, strict=True):
        seen[g].add(s)
    bad = {g: sorted(s) for g, s in seen.items() if len(s) > 1}
    if bad:
        shown = "; ".join(f"group {g!r} in {', '.join(s)}" for g, s in list(bad.items())[:5])
        raise DatasetError(
            f"{len(bad)} group(s) land in more than one split, which leaks between train and test: {shown}"
            f"{' …' if len(bad) > 5 else ''}. Fix the split/group columns (videos with identical content "
            "count as one group)."
        )


def generate_splits(
    labels: Sequence[str],
    groups: Sequence[str],
    fractions: dict[str, float],
    seed: int,
    fixed: Sequence[str] | None = None,
) -> list[str]:
    """Deal whole groups to splits so every class approaches its target share in each split.

    ``fractions`` maps split name to its share; ``fixed`` (optional) gives splits already decided ("" = free):
    groups holding a fixed video stay where they are and only the free groups are dealt.
    """
    labels, groups = list(labels), list(groups)
    names = list(fractions)
    fixed = list(fixed) if fixed is not None else [""] * len(labels)
    classes = sorted(set(labels))
    ci = {c: i for i, c in enumerate(classes)}
    group_counts: dict[str, np.ndarray] = {}
    group_fixed: dict[str, str] = {}
    for label, g, f in zip(labels, groups, fixed, strict=True):
        group_counts.setdefault(g, np.zeros(len(classes)))[ci[label]] += 1
        if f:
            group_fixed[g] = f
    free = [g for g in group_counts if g not in group_fixed]
    totals = sum((group_counts[g] for g in free), np.zeros(len(classes)))
    target = np.array([[fractions[s] * t for t in totals] for s in names])
    current = np.zeros_like(target)
    rng = np.random.default_rng(seed)
    order = [free[i] for i in rng.permutation(len(free))]
    order.sort(key=lambda g: -group_counts[g].sum())  # stable: big groups first, ties in seeded order
    assignment: dict[str, str] = dict(group_fixed)
    denom = np.maximum(totals, 1.0)
    for g in order:
        counts = group_counts[g]
        score = ((target - current) / denom) @ counts
        best = int(np.argmax(score))
        assignment[g] = names[best]
        current[best] += counts
    _repair_missing(assignment, group_counts, free, names, classes)
    return [assignment[g] for g in groups]


def _repair_missing(assignment, group_counts, free, names, classes) -> None:
    """Give each class at least one group in every split when it has enough groups, by moving a group
    from the split where that class has the most groups — never the last group of another class there."""
    for c in range(len(classes)):
        for s in names:
            have = [g for g in free if group_counts[g][c] > 0 and assignment[g] == s]
            if have:
                continue
            donors = sorted(
                (g for g in free if group_counts[g][c] > 0),
                key=lambda g: (
                    -sum(1 for h in free if group_counts[h][c] > 0 and assignment[h] == assignment[g]),
                    group_counts[g].sum(),
                ),
            )
            for g in donors:
                src = assignment[g]
                others_ok = all(
                    any(h != g and assignment[h] == src and group_counts[h][o] > 0 for h in free)
                    for o in np.nonzero(group_counts[g])[0]
                )
                if others_ok:
                    assignment[g] = s
                    break


def resolve_splits(
    labels: Sequence[str],
    groups: Sequence[str],
    given: Sequence[str],
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> tuple[list[str], str]:
    """Final split of every video and where it came from: 'given' splits, partly given, or generated.

    Given train/test only (UCF101, HMDB51): validation is carved from train by group. Given train/val only
    (Kinetics' train and validate CSVs, whose validation set is the one results are reported on): val becomes the
    test split and validation is carved from train the same way.
    """
    given = list(given)
    note = ""
    if given and all(given) and "test" not in given and "val" in given:
        given = ["test" if s == "val" else s for s in given]
        note = "val used as test, "
    if all(given):
        if "val" not in given:
            # lists such as UCF101's define train/test only: carve validation out of train, by group
            train_share = 1.0 - test_fraction
            share = min(0.9, val_fraction / train_share) if train_share > 0 else val_fraction
            fractions = {"train": 1.0 - share, "val": share}
            idx = [i for i, s in enumerate(given) if s == "train"]
            carved = generate_splits([labels[i] for i in idx], [groups[i] for i in idx], fractions, seed)
            out = list(given)
            for i, s in zip(idx, carved, strict=True):
                out[i] = s
            return out, f"given ({note}val carved from train)"
        return given, "given"
    if any(given):
        missing = sum(1 for s in given if not s)
        raise DatasetError(
            f"the manifest gives a split for some videos but not for {missing} others: give every video a split "
            "(train, val or test) or drop the split column to have one generated"
        )
    fractions = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction, "test": test_fraction}
    return generate_splits(labels, groups, fractions, seed), "generated"


def check_split_coverage(
    labels: Sequence[str], groups: Sequence[str], splits: Sequence[str], source: str = "generated"
) -> None:
    """Every class must have training, validation and test videos; say which classes lack what, why (as
    ``source``, from :func:`resolve_splits`, made the splits) and what to do — all of them in one message."""
    by_class: dict[str, Counter] = defaultdict(Counter)
    group_sets: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for label, g, s in zip(labels, groups, splits, strict=True):
        by_class[label][s] += 1
        group_sets[label][s].add(g)
    problems = []
    for label in sorted(by_class):
        lacking = [s for s in SPLITS if by_class[label][s] == 0]
        if lacking:
            problems.append(_lack(label, lacking, by_class[label], group_sets[label], source))
    if problems:
        shown = "; ".join(problems[:SHOWN]) + (
            f"; and {len(problems) - SHOWN} more class(es)" if len(problems) > SHOWN else ""
        )
        raise DatasetError(
            f"too few videos for the requested split in {len(problems)} class(es): {shown}. Add videos, merge the "
            "class with another or move its folder out of the dataset, or give every class train, val and test "
            "videos in a manifest."
        )


SHOWN = 10  # classes named in the error; the count says how many more


def _lack(label: str, lacking: list[str], counts: Counter, groups: dict[str, set[str]], source: str) -> str:
    n = sum(counts.values())
    k = len(set().union(*groups.values()))
    what = f"class {label!r} has no {'/'.join(lacking)} videos"
    if source == "generated":
        return (
            f"{what} ({n} videos in {k} group(s); a class needs videos in at least 3 groups to appear in train, "
            "val and test)"
        )
    if lacking == ["val"] and "val carved" in source:
        train = len(groups["train"]) + len(groups["val"])
        return (
            f"{what}: validation is carved from its training videos by whole groups, and its {counts['train']} "
            f"training video(s) form {train} group(s) (at least 2 needed)"
        )
    given = "/".join(s for s in lacking if s != "val" or "val carved" not in source)
    return f"{what}: the given splits (manifest or split lists) put none of its {n} video(s) in {given}"
