"""Tests of the figures train@<head> draws: the confusion counts, deterministic PNG bytes, no curve without
epochs."""

from __future__ import annotations

import numpy as np

from framecache.training.figures import confusion_counts, plot_confusion, plot_curve


def test_confusion_counts_rows_are_true_classes():
    counts = confusion_counts(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [0, 1, 0]])


def test_figures_are_deterministic_png_files(tmp_path):
    y, p = np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1])
    for name in ("a.png", "b.png"):
        plot_confusion(y, p, ["x", "y", "z"], "head: test", tmp_path / name)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = [{"step": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_accuracy": 0.5} for e in (1, 2, 3)]
    assert plot_curve(history, 2, "gru", tmp_path / "curve.png") and (tmp_path / "curve.png").is_file()
    assert not plot_curve(history[:1], 1, "gru", tmp_path / "one.png") and not (tmp_path / "one.png").exists()
