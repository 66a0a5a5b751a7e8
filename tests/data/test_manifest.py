"""The prepared manifest's rows (framecache.data.manifest): class order, paths as a stage opens them, columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from framecache.data.discovery import Candidate
from framecache.data.manifest import Indexed, class_order, manifest_rows, repo_path
from framecache.layout import MANIFEST_COLUMNS
from framecache.video.probe import VideoInfo


def test_repo_path_relative_inside_absolute_outside(tmp_path):
    inside = tmp_path / "data" / "v.mp4"
    assert repo_path(inside, cwd=tmp_path) == "data/v.mp4"
    assert repo_path(Path("/elsewhere/v.mp4"), cwd=tmp_path) == "/elsewhere/v.mp4"


def test_class_order_keeps_a_given_order_for_present_classes_then_sorts_the_rest():
    assert class_order(["run", "walk", "jump", "run"], None) == ["jump", "run", "walk"]
    assert class_order(["run", "walk", "jump"], ["walk", "swim", "run"]) == ["walk", "run", "jump"]


def test_manifest_rows_have_the_layout_columns_sorted_by_video_id(tmp_path):
    info = VideoInfo(frames=4, fps=29.97002997, duration=0.13346666666, width=32, height=24, codec="h264")
    items = [Indexed(Candidate(vid, tmp_path / vid, label), info, sha) for vid, label, sha in
             [("b/2.mp4", "b", "s2"), ("a/1.mp4", "a", "s1")]]  # fmt: skip
    rows = manifest_rows(items, ["g2", "g1"], ["test", "train"], ["b", "a"])
    assert [tuple(r) for r in rows] == [MANIFEST_COLUMNS] * 2
    assert [(r["video_id"], r["label_index"], r["split"], r["group"], r["sha256"]) for r in rows] == [
        ("a/1.mp4", 1, "train", "g1", "s1"),
        ("b/2.mp4", 0, "test", "g2", "s2"),
    ]
    assert (rows[0]["fps"], rows[0]["duration"]) == (29.97003, 0.133467)


def test_a_still_image_renamed_as_a_video_is_a_failure_saying_so(tmp_path, make_video):
    from PIL import Image

    from framecache.data.manifest import probe_candidates

    make_video(tmp_path / "a" / "clip.mp4", frames=3, size=16)
    for name, fmt in (("photo.mp4", "PNG"), ("snap.avi", "JPEG")):
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "a" / name, format=fmt)
    files = sorted((tmp_path / "a").iterdir())
    indexed, failures = probe_candidates([Candidate(f.name, f, "a", "") for f in files])
    assert [i.candidate.video_id for i in indexed] == ["clip.mp4"]
    assert {Path(f.path).name: f.reason for f in failures} == {
        "photo.mp4": "a still image (PNG data), not a video",
        "snap.avi": "a still image (MJPEG data), not a video",
    }
