"""Finding a dataset's videos (framecache.data.discovery): the three layouts, bad rows and paths, clear errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from framecache.data.discovery import DatasetError, discover

EXTS = [".mp4", ".avi"]


def test_folder_layout_scan_ignores_non_videos_and_flags_loose_files(tmp_path, make_video):
    for cls in ("run", "walk"):
        make_video(tmp_path / cls / f"{cls}_1.mp4", frames=3)
    (tmp_path / "run" / "notes.txt").write_text("not a video")
    (tmp_path / "run" / ".hidden.mp4").write_bytes(b"")
    make_video(tmp_path / "loose.mp4", frames=3)
    found = discover(tmp_path, EXTS, 1)
    assert found.source == "folders"
    assert sorted((c.video_id, c.label) for c in found.candidates) == [
        ("run/run_1.mp4", "run"),
        ("walk/walk_1.mp4", "walk"),
    ]
    assert found.ignored_files == 2
    assert [f.reason for f in found.failures] == ["not inside a class folder (expected root/<class>/<video>)"]
    (tmp_path / "walk" / "loop").symlink_to(tmp_path, target_is_directory=True)  # a link back up the tree
    (tmp_path / "linked").symlink_to(tmp_path / "run", target_is_directory=True)  # an alias is followed
    assert sorted(c.video_id for c in discover(tmp_path, EXTS, 1).candidates) == [
        "linked/run_1.mp4",
        "run/run_1.mp4",
        "walk/walk_1.mp4",
    ]


def test_manifest_relative_paths_and_validation(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"x")
    (tmp_path / "clips" / "unlisted.mp4").write_bytes(b"x")
    (tmp_path / "manifest.csv").write_text("path,label,split,group,extra\nclips/a.mp4,x,train,g1,1\n/abs/b.mp4,y,,,\n")
    found = discover(tmp_path, EXTS, 1)
    assert found.source == "manifest"
    a, b = found.candidates
    assert a.file == (tmp_path / "clips/a.mp4").resolve() and a.split == "train" and a.group == "g1"
    assert b.file == Path("/abs/b.mp4") and b.split == "" and b.group == ""
    m = found.matching
    assert (m.listed, m.found, m.matched) == (2, 2, 1)
    assert m.entries_without_file == ["/abs/b.mp4"] and m.files_not_listed == ["clips/unlisted.mp4"]

    (tmp_path / "manifest.csv").write_text("path,label\nclipz/a.mp4,x\nclipz/b.mp4,x\nclipz/c.mp4,x\n")
    with pytest.raises(
        DatasetError,
        match=r"none of the files the manifest names exists: manifest.csv list\(s\) 3 video\(s\); 0 of them match "
        r"the 2 video file\(s\) found .*e.g. 'clipz/a.mp4', 'clipz/b.mp4'; found but not listed \(2\), e.g. "
        r"'clips/a.mp4', 'clips/unlisted.mp4'",
    ):
        discover(tmp_path, EXTS, 1)

    (tmp_path / "manifest.csv").write_text("file,label\na.mp4,x\n")
    with pytest.raises(DatasetError, match=r"lacks column\(s\) path: expected path,label"):
        discover(tmp_path, EXTS, 1)
    (tmp_path / "manifest.csv").write_text("path,label,split\na.mp4,x,training\n")
    with pytest.raises(DatasetError, match=r"line 2: split = 'training' is not allowed: expected one of train, val"):
        discover(tmp_path, EXTS, 1)
    (tmp_path / "manifest.csv").write_text("path,label\na.mp4,x\na.mp4,y\n")
    with pytest.raises(DatasetError, match=r"lists 'a.mp4' twice \(lines 2 and 3\)"):
        discover(tmp_path, EXTS, 1)


def test_dataset_path_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        discover(tmp_path / "missing", EXTS, 1)
    (tmp_path / "x.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"not a \.csv manifest"):
        discover(tmp_path / "x.mp4", EXTS, 1)


def test_ucf101_split_lists(tmp_path, make_video):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Walk\n2 Run\n")
    train, test = [], []
    for cls in ("Walk", "Run"):
        for g in (1, 2, 3, 4):
            rel = f"{cls}/v_{cls}_g{g:02d}_c01.avi"
            (tmp_path / cls).mkdir(exist_ok=True)
            (tmp_path / rel).write_bytes(b"x")  # discovery does not open files
            (test if g == 1 else train).append(rel)
    (tmp_path / "Run" / "v_Run_g09_c01.avi").write_bytes(b"x")  # in no list
    (lists / "trainlist01.txt").write_text("".join(f"{r} 1\n" for r in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r in test))
    found = discover(tmp_path, EXTS, 1)
    assert found.source == "split_lists"
    assert found.classes == ["Walk", "Run"]
    assert Counter(c.split for c in found.candidates) == {"train": 6, "test": 2}
    assert [f.reason for f in found.failures] == ["not listed in trainlist01.txt + testlist01.txt"]
    with pytest.raises(DatasetError, match=r"split_list = 2 not found.*available split numbers: 1"):
        discover(tmp_path, EXTS, 2)
