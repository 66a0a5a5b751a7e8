"""Model files: what load_head refuses (the round trip itself is in the registry-driven contract)."""

from __future__ import annotations

import pickle

import pytest

from framecache import heads
from framecache.errors import FramecacheError


def test_load_head_rejects_other_files(tmp_path):
    with pytest.raises(FramecacheError, match="not found"):
        heads.load_head(tmp_path / "missing.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(FramecacheError, match="cannot be read"):
        heads.load_head(tmp_path / "junk.pkl")
    (tmp_path / "other.pkl").write_bytes(pickle.dumps({"something": 1}))
    with pytest.raises(FramecacheError, match="not a framecache model"):
        heads.load_head(tmp_path / "other.pkl")
