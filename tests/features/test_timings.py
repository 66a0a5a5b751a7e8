"""The extract stage's metrics split the command's time around the extraction loop: start-up (from the
command's start: interpreter, imports, inputs and plan; the loop starts with the decode workers, and the
model is built in it while they decode) and teardown (journal flush, workers stopped, the store assembled),
phase by phase."""

from __future__ import annotations

import time

import pytest

from framecache.features import extraction
from tests.features.test_extraction import extract_clips, xparams  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_metrics_split_the_command_around_the_extraction_loop(tmp_path, extract_manifest, extract_clips):  # noqa: F811
    manifest, classes = extract_manifest(tmp_path / "prepared", extract_clips[:3])
    out = tmp_path / "features"
    started = time.time() - 30  # the command's interpreter started 30 s before the stage's own code
    metrics = extraction.run_extract(
        xparams(num_workers=1), manifest, classes, out / "s.h5", out / "f.csv", out / "m.json", progress=False,
        started=started,
    )  # fmt: skip
    phases = metrics["phases_seconds"]
    assert list(phases) == [
        "interpreter_and_imports", "inputs_and_plan", "extraction_loop",
        "flush_and_stop_workers", "gather_and_assemble", "outputs",
    ]  # fmt: skip
    assert all(v >= 0 for v in phases.values())
    assert phases["interpreter_and_imports"] >= 30
    before = phases["interpreter_and_imports"] + phases["inputs_and_plan"]
    after = phases["flush_and_stop_workers"] + phases["gather_and_assemble"] + phases["outputs"]
    assert metrics["startup_seconds"] == pytest.approx(before, abs=0.01)
    assert metrics["teardown_seconds"] == pytest.approx(after, abs=0.01)
    assert phases["extraction_loop"] == pytest.approx(metrics["extract_seconds"], abs=0.05)
    assert 0 < metrics["model_build_seconds"] < metrics["extract_seconds"]  # built while the workers decode
    fps = metrics["frames_computed"] / metrics["extract_seconds"]
    assert metrics["frames_per_second"] == pytest.approx(fps, rel=0.01)

    # nothing left to compute: no loop, the metrics still add up
    again = extraction.run_extract(xparams(), manifest, classes, out / "s.h5", out / "f.csv", out / "m.json",
                                   progress=False)  # fmt: skip
    assert again["videos_computed"] == 0 and again["phases_seconds"]["extraction_loop"] < 0.01
    assert again["startup_seconds"] >= 0 and again["teardown_seconds"] >= 0
