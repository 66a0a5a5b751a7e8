"""The demo command: params in, the demo folder out, one log line saying what was written."""

from __future__ import annotations

import csv
import logging

from framecache.data import demo_clips
from stages import demo


def test_main_writes_the_configured_demo_and_says_so(tmp_path, params_file, caplog):
    params = params_file(seed=5, demo={"clips_per_class": 4, "size": 32, "fps": 10, "min_frames": 3, "max_frames": 4})
    out = tmp_path / "demo"
    with caplog.at_level(logging.INFO, logger="framecache.demo"):
        assert demo.main(["--params", str(params), "--out", str(out)]) == 0
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    classes = demo_clips.class_names()
    assert len(rows) == 4 * len(classes) and {r["label"] for r in rows} == set(classes)
    assert all(3 <= int(r["frames"]) <= 4 and (out / r["path"]).is_file() for r in rows)
    assert f"wrote {len(rows)} demo videos in {len(classes)} classes to {out}" in caplog.text
    # the seed comes from params: the same clips as the library writes for seed 5
    planned = {clip.relpath: clip.frames for _, clips in demo_clips.plan(5, 4, 3, 4) for clip in clips}
    assert {r["path"]: int(r["frames"]) for r in rows} == planned
