"""The prepare stage end to end: generated clips, the real shared clips, bad files, untouched user data."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from framecache.data.candidates import DatasetError
from framecache.data.prepare import prepare_dataset
from framecache.fileio import file_sha256
from framecache.layout import MANIFEST_COLUMNS
from tests.builders import read_rows

REPO = Path(__file__).resolve().parents[2]


def _tree_hashes(root: Path) -> dict[str, tuple[str, float]]:
    return {
        str(p.relative_to(root)): (file_sha256(p), p.stat().st_mtime)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _splits_by_group(rows):
    by_group = defaultdict(set)
    for r in rows:
        by_group[r["group"]].add(r["split"])
    return by_group


def test_generated_clips_with_ucf_names_and_bad_files(tmp_path, make_video, params):
    root = tmp_path / "my videos"
    for k, cls in enumerate(("jump", "sit")):
        for g in range(1, 6):
            for c in (1, 2):
                make_video(root / cls / f"v_{cls}_g{g:02d}_c{c:02d}.mp4", frames=4, seed=100 * k + g * 10 + c)
    good = root / "jump" / "v_jump_g01_c01.mp4"
    (root / "jump" / "truncated.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (root / "jump" / "empty.mp4").write_bytes(b"")
    (root / "sit" / "text.mp4").write_text("this is not a video\n")
    (root / "sit" / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    before = _tree_hashes(root)

    out = tmp_path / "prepared"
    summary = prepare_dataset(root, out, params)

    assert _tree_hashes(root) == before, "prepare must not touch the user's files"
    rows = read_rows(out / "manifest.csv")
    assert list(rows[0]) == list(MANIFEST_COLUMNS)
    assert len(rows) == 20 and summary["videos"] == 20
    assert (out / "classes.txt").read_text() == "jump\nsit\n"
    assert {r["group"] for r in rows} == {f"{c}/{g:02d}" for c in ("jump", "sit") for g in range(1, 6)}
    assert all(len(s) == 1 for s in _splits_by_group(rows).values())
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    first = next(r for r in rows if r["video_id"] == "jump/v_jump_g01_c01.mp4")
    assert (first["frames"], first["codec"], first["width"]) == ("4", "h264", "32")
    assert first["sha256"] == file_sha256(good)
    assert Path(first["path"]).resolve() == good.resolve()

    failures = {Path(r["path"]).name: r["reason"] for r in read_rows(out / "failures.csv")}
    assert set(failures) == {"truncated.mp4", "empty.mp4", "text.mp4", "dangling.mp4"}
    assert failures["empty.mp4"] == "empty file (0 bytes)"
    assert failures["text.mp4"].startswith("not a readable video container")
    assert failures["truncated.mp4"]
    assert failures["dangling.mp4"] == "broken symbolic link"
    assert summary["failures"] == 4 and summary["source"] == "folders" and summary["split_source"] == "generated"
    assert json.loads((out / "summary.json").read_text()) == summary


def test_manifest_entries_that_are_not_files_are_failures(tmp_path, make_video, params):
    root = tmp_path / "ds"
    for i in range(6):
        make_video(root / "clips" / f"a{i}.mp4", frames=3, seed=i)
        make_video(root / "clips" / f"b{i}.mp4", frames=3, seed=10 + i)
    (root / "clips" / "dir.mp4").mkdir()
    lines = [f"clips/a{i}.mp4,a\n" for i in range(6)] + [f"clips/b{i}.mp4,b\n" for i in range(6)]
    (root / "manifest.csv").write_text("path,label\n" + "".join(lines) + "clips/dir.mp4,a\nclips/gone.mp4,b\n")
    summary = prepare_dataset(root, tmp_path / "out", params)
    failures = {Path(r["path"]).name: r["reason"] for r in read_rows(tmp_path / "out" / "failures.csv")}
    assert failures == {"dir.mp4": "not a regular file", "gone.mp4": "file not found"}
    assert summary["videos"] == 12 and summary["source"] == "manifest"


def test_weizmann_twins_share_a_group_and_never_straddle(weizmann64, tmp_path, params):
    out = tmp_path / "prepared"
    summary = prepare_dataset(weizmann64, out, params)
    rows = read_rows(out / "manifest.csv")
    assert summary["videos"] == 72 and summary["classes"] == 4 and summary["failures"] == 0
    with open(weizmann64 / "manifest.csv", newline="") as fh:
        pairs = {r["path"]: r["group"] for r in csv.DictReader(fh)}
    assert {r["video_id"]: r["group"] for r in rows} == pairs
    assert all(len(s) == 1 for s in _splits_by_group(rows).values())
    for cls, counts in summary["per_class"].items():
        assert counts["train"] > counts["test"] > 0 and counts["val"] > 0, cls
    assert {r["codec"] for r in rows} == {"h264"}


def test_ud810_avi_grouped_by_person(ud810, tmp_path, params):
    out = tmp_path / "prepared"
    summary = prepare_dataset(ud810, out, params)
    rows = read_rows(out / "manifest.csv")
    assert summary["videos"] == 27 and summary["failures"] == 0
    assert {r["codec"] for r in rows} == {"mpeg4"}
    assert {(r["width"], r["height"]) for r in rows} == {("640", "480")}
    by_group = _splits_by_group(rows)
    assert set(by_group) == {"P1", "P2", "P3"} and all(len(s) == 1 for s in by_group.values())
    assert all(float(r["fps"]) == pytest.approx(29.97) for r in rows)


def test_stage_cli_reports_a_too_small_class(tmp_path, make_video, params_file):
    root = tmp_path / "videos"
    for i in range(6):
        make_video(root / "many" / f"m{i}.mp4", frames=3, seed=i)
    make_video(root / "few" / "f0.mp4", frames=3, seed=99)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    params_file()
    proc = subprocess.run(
        [sys.executable, "-m", "stages.prepare", "--dataset", str(root), "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "class 'few' has no" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_under_evaluation_auto_a_class_of_one_group_is_the_split_error_naming_it(tmp_path, make_video, params):
    # train.evaluation: auto (the default) chooses between holdout and group k-fold after prepare; a class whose
    # videos all share one group can do neither, and prepare says so, naming the class
    assert params["train"]["evaluation"] == "auto"
    root = tmp_path / "ds"
    for g in range(1, 5):
        make_video(root / "jump" / f"v_jump_g{g:02d}_c01.mp4", frames=3, seed=g)
        make_video(root / "sit" / f"v_sit_g09_c{g:02d}.mp4", frames=3, seed=10 + g)
    with pytest.raises(DatasetError, match=r"class 'sit' has no (val|test)[a-z/]* videos \(4 videos in 1 group"):
        prepare_dataset(root, tmp_path / "prepared", params)
