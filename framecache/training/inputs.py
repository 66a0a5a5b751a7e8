"""The videos a head is trained and scored on, per split, with the test split sealed until every fit is done."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from framecache.errors import FramecacheError
from framecache.layout import SPLITS


@dataclass
class SplitData:
    """The videos of one split."""

    ids: list[str]
    X: list[np.ndarray]
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


class SealedSplit:
    """The test split, unreadable until :meth:`unseal` is called after every head has been fitted."""

    def __init__(self, data: SplitData):
        self._data = data
        self.sealed = True

    def unseal(self) -> SplitData:
        self.sealed = False
        return self._data

    @property
    def data(self) -> SplitData:
        if self.sealed:
            raise RuntimeError("the test split was read before fitting finished")
        return self._data

    def __len__(self) -> int:
        return len(self._data)


def split_data(
    ids: Sequence[str], X: Sequence[np.ndarray], y: np.ndarray, split: Sequence[str]
) -> dict[str, SplitData]:
    """``{"train", "val", "test"}`` → the videos of that split (val may be empty; train and test may not)."""
    split = np.asarray(split).astype(str)
    unknown = sorted(set(split) - set(SPLITS))
    if unknown:
        raise FramecacheError(f"feature store has videos in unknown split(s) {unknown}: expected {', '.join(SPLITS)}")
    out = {}
    for name in SPLITS:
        idx = np.flatnonzero(split == name)
        out[name] = SplitData([ids[i] for i in idx], [X[i] for i in idx], np.asarray(y)[idx].astype(np.int64))
    for name in ("train", "test"):
        if not len(out[name]):
            raise FramecacheError(
                f"the feature store has no {name} videos: a head needs both train and test videos "
                "(check prepare.val_fraction / prepare.test_fraction and the dataset's split column)"
            )
    return out
