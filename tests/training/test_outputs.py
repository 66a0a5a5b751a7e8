"""A full disk while train@<head> writes its outputs: one message and exit 2, and the head's folder holds the
previous run's files or none of the new ones (never a model.pkl beside no metrics.json)."""

from __future__ import annotations

import numpy as np
import pytest

from framecache import layout
from framecache.compute import cpu_threads
from framecache.errors import FramecacheError
from framecache.training import train_head, write_outputs
from tests.conftest import tree_bytes

CLASSES = ["a", "b"]


@pytest.fixture(scope="module")
def result():
    """A torch head's result: it writes every kind of file (model, tables, metrics, the curve and figures)."""
    rng = np.random.default_rng(0)
    X = [(rng.normal(size=(3, 4)) + c).astype(np.float32) for c in (0, 1) for _ in range(6)]
    y = np.repeat([0, 1], 6)
    split = np.tile(["train"] * 3 + ["val", "test", "test"], 2)
    with cpu_threads(1):
        return train_head("gru", {"type": "gru", "hidden": 4, "max_epochs": 3, "patience": 2, "dropout_grid": []},
                          [f"v{i}" for i in range(12)], X, y, split, CLASSES, device="cpu")  # fmt: skip


def test_full_disk_at_each_file_leaves_the_previous_outputs(result, tmp_path, full_disk):
    out = tmp_path / "gru"
    sites = full_disk.fail_each_write(
        lambda: write_outputs(result, out), out, r"could not write the outputs of train@gru .*No space left"
    )
    assert sites == 7  # model.pkl, predictions.csv, selection.csv, curve.csv, confusion.png, curve.png, metrics.json


def test_full_disk_on_a_first_run_writes_none_of_it(result, tmp_path, full_disk):
    full_disk.at(4)  # the model and tables written, the figures and metrics not yet
    with pytest.raises(FramecacheError, match=r"free disk space .* re-run `dvc repro train@gru`"):
        write_outputs(result, tmp_path / "gru")
    assert tree_bytes(tmp_path / "gru") == {}


def test_outputs_are_exactly_the_stage_outputs_after_a_change_of_head_type(result, tmp_path):
    out = tmp_path / "h"
    (out / layout.PLOTS_DIR).mkdir(parents=True)
    (out / layout.PLOTS_DIR / "stale.png").write_bytes(b"from an earlier run")
    (out / "notes.txt").write_text("the user's own file")
    write_outputs(result, out)
    assert sorted(p.name for p in (out / layout.PLOTS_DIR).iterdir()) == ["confusion.png", "curve.csv", "curve.png"]
    assert (out / "notes.txt").read_text() == "the user's own file"  # only the stage's own names are replaced
