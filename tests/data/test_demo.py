"""The demo stage: real encoded videos, deterministic for a seed, and order pairs that are exact reversals."""

from __future__ import annotations

import csv
from pathlib import Path

import av
import numpy as np
import pytest

from framecache.data import demo_clips
from framecache.data.demo import write_demo
from framecache.errors import FramecacheError
from framecache.fileio import file_sha256
from framecache.video.probe import probe

SMALL = {"seed": 3, "clips_per_class": 2, "size": 32, "fps": 25, "min_frames": 5, "max_frames": 7}


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _manifest(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    write_demo(out, **SMALL)
    return out


def test_writes_every_class_as_real_h264(small_demo):
    rows = _manifest(small_demo)
    assert {r["label"] for r in rows} == set(demo_clips.class_names())
    assert len(rows) == SMALL["clips_per_class"] * len(demo_clips.class_names())
    for r in rows:
        info = probe(small_demo / r["path"])
        assert info.codec == "h264"
        assert (info.width, info.height) == (SMALL["size"], SMALL["size"])
        assert info.frames == int(r["frames"])
        assert SMALL["min_frames"] <= info.frames <= SMALL["max_frames"]
        assert info.fps == pytest.approx(SMALL["fps"])


def test_reversed_pairs_are_frame_for_frame_reversals(small_demo):
    rows = _manifest(small_demo)
    reversed_rows = [r for r in rows if r["reversed_from"]]
    assert len(reversed_rows) == SMALL["clips_per_class"] * len(demo_clips.ORDER_PAIRS)
    by_path = {r["path"]: r for r in rows}
    for r in reversed_rows:
        forward = by_path[r["reversed_from"]]
        assert forward["group"] == r["group"], "a clip and its reversal must share a group"
        fwd, bwd = _decode(small_demo / forward["path"]), _decode(small_demo / r["path"])
        assert len(fwd) == len(bwd) > 1
        for a, b in zip(fwd, bwd[::-1], strict=True):
            np.testing.assert_array_equal(a, b)
        # and the clip really moves: it is not a still that would be trivially its own reversal
        assert not np.array_equal(fwd[0], fwd[-1])


def test_groups_never_shared_across_unrelated_clips(small_demo):
    rows = _manifest(small_demo)
    groups: dict[str, set[str]] = {}
    for r in rows:
        groups.setdefault(r["group"], set()).add(r["label"])
    for labels in groups.values():
        assert len(labels) == 1 or sorted(labels) in [sorted(p) for p in demo_clips.class_pairs()]


def test_same_seed_same_bytes_other_seed_other_clips(small_demo, tmp_path):
    again = tmp_path / "again"
    write_demo(again, **SMALL)
    for r in _manifest(small_demo):
        assert file_sha256(small_demo / r["path"]) == file_sha256(again / r["path"]), r["path"]
    other = tmp_path / "other"
    write_demo(other, **{**SMALL, "seed": SMALL["seed"] + 1})
    path = _manifest(small_demo)[0]["path"]
    assert file_sha256(small_demo / path) != file_sha256(other / path)


def test_more_clips_leave_earlier_clips_unchanged():
    few = demo_clips.plan(seed=1, clips_per_class=2, min_frames=5, max_frames=9)
    more = demo_clips.plan(seed=1, clips_per_class=4, min_frames=5, max_frames=9)
    specs_more = {clips[0].relpath: spec for spec, clips in more}
    for spec, clips in few:
        assert specs_more[clips[0].relpath] == spec


def test_clips_vary_in_length_photo_and_motion():
    jobs = demo_clips.plan(seed=0, clips_per_class=12, min_frames=10, max_frames=40)
    lengths = {spec.frames for spec, _ in jobs}
    photos = {spec.photo for spec, clips in jobs if clips[0].label == "zoom_in"}
    assert len(lengths) > 10 and len(photos) > 3
    cat_specs = [spec for spec, clips in jobs if clips[0].label == "cat"][:2]
    a, b = (demo_clips.render_frames(spec, 32) for spec in cat_specs)
    assert not np.array_equal(a[0], b[0]), "two clips of a class start from different views"


def test_replaces_its_own_output_but_never_a_foreign_folder(tmp_path):
    out = tmp_path / "demo"
    write_demo(out, **SMALL)
    (out / "stale.txt").write_text("from an older run")
    write_demo(out, **SMALL)
    assert not (out / "stale.txt").exists()
    user = tmp_path / "my_videos"
    user.mkdir()
    (user / "precious.mp4").write_bytes(b"not to be touched")
    with pytest.raises(FramecacheError, match="refusing to replace it"):
        write_demo(user, **SMALL)
    assert (user / "precious.mp4").read_bytes() == b"not to be touched"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging folder left behind"


def test_the_demo_carries_its_order_pairs_and_prepare_copies_them(params, tmp_path):
    from framecache.data.class_pairs import read_class_pairs
    from framecache.data.prepare import prepare_dataset
    from framecache.layout import CLASS_PAIRS

    demo = tmp_path / "demo"
    write_demo(demo, **{**SMALL, "clips_per_class": 3, "size": 32})  # 3 groups per class: train, val and test
    assert read_class_pairs(demo / CLASS_PAIRS) == demo_clips.class_pairs()
    prepare_dataset(demo, tmp_path / "prepared", params)
    assert read_class_pairs(tmp_path / "prepared" / CLASS_PAIRS) == demo_clips.class_pairs()
