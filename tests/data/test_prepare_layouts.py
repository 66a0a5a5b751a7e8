"""prepare_dataset on each distributed layout with real tiny clips, and the bad inputs a sweep found: conflicting
labels, unreadable entries (which stop DVC before prepare runs), missing CSV videos, classes too small to split."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path

import pytest

from framecache.data.discovery import DatasetError
from framecache.data.prepare import prepare_dataset
from framecache.data.splits import check_split_coverage, resolve_splits
from tests.builders import read_rows
from tests.data.layouts import hmdb51, kinetics, ucf101

REPO = Path(__file__).resolve().parents[2]


def _with_split_list(params, n):
    return {**params, "prepare": {**params["prepare"], "split_list": n}}


def test_prepare_ucf101_archive_with_the_official_test_split(tmp_path, params):
    tests = ucf101(tmp_path / "ds")
    for n in (1, 3):
        out = tmp_path / f"out{n}"
        summary = prepare_dataset(tmp_path / "ds", out, _with_split_list(params, n))
        rows = read_rows(out / "manifest.csv")
        assert (out / "classes.txt").read_text() == "ApplyLipstick\nHandstandPushups\nTyping\n"
        test_rows = {f"{r['label']}/{Path(r['video_id']).name}" for r in rows if r["split"] == "test"}
        assert test_rows == tests[n], "the official test split, exactly"
        counts = Counter(r["split"] for r in rows)
        assert (
            counts["test"] == len(tests[n])
            and counts["val"] >= 3
            and counts["train"] + counts["val"] == 12 - len(tests[n])
        )
        assert summary["source"] == "split_lists" and summary["split_source"] == "given (val carved from train)"
        assert summary["matching"]["matched"] == 12 and summary["failures"] == 0
        assert all(len({r["split"] for r in rows if r["group"] == g}) == 1 for g in {r["group"] for r in rows})


def test_ucf101_groups_are_per_class_and_the_report_counts_them(tmp_path, params):
    """UCF101's groups are defined within a class: 3 classes x 4 group numbers are 12 groups, and the official
    test split (groups 1 and 4 of every class) is 6 groups for the report's intervals, not 2."""
    from framecache.evaluation.design import GroupDesign
    from framecache.report.results import read_groups

    ucf101(tmp_path / "ds", groups=4, fake=False)
    summary = prepare_dataset(tmp_path / "ds", tmp_path / "out", params)
    rows = read_rows(tmp_path / "out" / "manifest.csv")
    assert summary["groups"] == len({r["group"] for r in rows}) == 3 * 4
    assert {r["group"] for r in rows if r["label"] == "Typing"} == {f"Typing/{g:02d}" for g in range(1, 5)}
    test_ids = [r["video_id"] for r in rows if r["split"] == "test"]
    groups = read_groups(tmp_path / "out")
    design = GroupDesign.build([groups[v] for v in test_ids], n_boot=10, confidence=0.95, seed=0)
    assert (design.n_videos, design.n_groups) == (6, 3 * 2)
    across = {**params, "prepare": {**params["prepare"], "group_scope": "dataset"}}
    assert prepare_dataset(tmp_path / "ds", tmp_path / "across", across)["groups"] == 4


def test_prepare_hmdb51_records_unused_videos(tmp_path, params):
    hmdb51(tmp_path / "ds")
    out = tmp_path / "out"
    summary = prepare_dataset(tmp_path / "ds", out, _with_split_list(params, 2))
    rows = read_rows(out / "manifest.csv")
    assert summary["source"] == "hmdb51_splits" and summary["videos"] == 10
    assert sorted(Path(r["video_id"]).name for r in rows if r["split"] == "test" and r["label"] == "pour") == [
        "pour_clip1_f_cm_np1_ri_med_1.avi",
        "pour_clip4_f_cm_np1_ri_med_4.avi",
    ]
    failures = read_rows(out / "failures.csv")
    assert len(failures) == 2 and all(f["reason"].startswith("marked 0 (not used in this split)") for f in failures)


def test_prepare_kinetics_lists_missing_videos_and_tests_on_validate(tmp_path, params, caplog):
    absent = kinetics(tmp_path / "ds", missing=1)
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="framecache.prepare"):
        summary = prepare_dataset(tmp_path / "ds", out, params)
    rows = read_rows(out / "manifest.csv")
    assert summary["source"] == "kinetics_csv" and summary["videos"] == 11
    assert summary["split_source"] == "given (val used as test, val carved from train)"
    # validate.csv's rows (i % 3 == 2; yt15's file is the missing one) are the test split; validation comes out of
    # train.csv's rows
    test = {Path(r["video_id"]).stem[:11] for r in rows if r["split"] == "test"}
    assert test == {"yt02-_x0002", "yt05-_x0005", "yt12-_x0002"}
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    assert {r["group"] for r in rows} == {Path(r["video_id"]).stem[:11] for r in rows}
    failures = read_rows(out / "failures.csv")
    assert [f["path"] for f in failures] == [f"{absent[0]}.mp4"]
    assert "validate.csv line 5 (label 'air drumming'): no" in failures[0]["reason"]
    assert summary["matching"]["listed"] == 12 and summary["matching"]["matched"] == 11
    assert "12 video(s); 11 of them match the 11 video file(s)" in caplog.text
    assert f"listed but not found (1), e.g. '{absent[0]}'" in caplog.text


def test_conflicting_labels_are_left_out_and_listed(tmp_path, params, make_video):
    root = tmp_path / "ds"
    for k, cls in enumerate(("a", "b")):
        for i in range(4):
            make_video(root / cls / f"{cls}{i}.mp4", frames=3, size=16, seed=10 * k + i)
    (root / "b" / "copy_of_a0.mp4").write_bytes((root / "a" / "a0.mp4").read_bytes())
    (root / "a" / "same_a1.mp4").write_bytes((root / "a" / "a1.mp4").read_bytes())  # same label: kept, one group
    out = tmp_path / "out"
    summary = prepare_dataset(root, out, params)
    ids = {r["video_id"] for r in read_rows(out / "manifest.csv")}
    assert "a/a0.mp4" not in ids and "b/copy_of_a0.mp4" not in ids and {"a/a1.mp4", "a/same_a1.mp4"} <= ids
    reasons = {Path(f["path"]).name: f["reason"] for f in read_rows(out / "failures.csv")}
    assert set(reasons) == {"a0.mp4", "copy_of_a0.mp4"}
    assert reasons["a0.mp4"].startswith("conflicting labels: labelled 'a', but the same bytes are b/copy_of_a0.mp4 (b)")
    assert summary["conflicting_label_videos"] == 2 and summary["duplicate_content_videos"] == 1


def test_unreadable_entries_are_named_with_the_dvc_fix(tmp_path, params, make_video, caplog, monkeypatch):
    root = tmp_path / "ds"
    for cls in ("a", "b"):
        for i in range(4):
            make_video(root / cls / f"{cls}{i}.mp4", frames=3, size=16, seed=(10 if cls == "b" else 0) + i)
    (root / "a" / "notes.txt").symlink_to(tmp_path / "gone.txt")  # not a video, but DVC hashes it too
    (root / "b" / "clip.mp4").symlink_to(tmp_path / "gone.mp4")
    locked = root / "b" / "locked.mp4"
    locked.write_bytes(b"secret")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="framecache.prepare"):
        summary = prepare_dataset(root, out, params)
    assert summary["videos"] == 8
    assert summary["unreadable_entries"] == 3
    reasons = {Path(f["path"]).name: f["reason"] for f in read_rows(out / "failures.csv")}
    assert reasons == {
        "notes.txt": "broken symbolic link",
        "clip.mp4": "broken symbolic link",
        "locked.mp4": "cannot read file: permission denied",
    }
    assert "3 unreadable entr(ies)" in caplog.text and "`dvc repro` hashes the whole dataset folder" in caplog.text
    assert ".dvcignore" in caplog.text and "notes.txt (broken symbolic link)" in caplog.text


def test_small_classes_are_named_with_what_the_split_needs(tmp_path, params, make_video):
    root = tmp_path / "ds"
    for i in range(6):
        make_video(root / "many" / f"m{i}.mp4", frames=3, size=16, seed=i)
    for i in range(2):
        make_video(root / "two" / f"t{i}.mp4", frames=3, size=16, seed=50 + i)
    make_video(root / "one" / "o0.mp4", frames=3, size=16, seed=99)
    with pytest.raises(DatasetError) as err:
        prepare_dataset(root, tmp_path / "out", params)
    msg = str(err.value)
    assert msg.startswith("too few videos for the requested split in 2 class(es): class 'one' has no ")
    assert "(1 videos in 1 group(s); a class needs videos in at least 3 groups" in msg
    assert "class 'two' has no" in msg and "Add videos, merge the class" in msg
    assert not (tmp_path / "out" / "manifest.csv").exists()
    # given train/test lists: a class whose training videos are one group cannot give a validation split
    labels, groups = ["a"] * 6 + ["b"] * 3, [f"g{i}" for i in range(6)] + ["h", "h", "k"]
    given = ["train", "train", "train", "train", "test", "test", "train", "train", "test"]
    splits, source = resolve_splits(labels, groups, given, val_fraction=0.2, test_fraction=0.25, seed=0)

    carved = r"class 'b' has no val videos: validation is carved from its training videos by whole groups, and its "
    with pytest.raises(DatasetError, match=carved + r"2 training video\(s\) form 1 group\(s\) \(at least 2"):
        check_split_coverage(labels, groups, splits, source)


def test_summary_is_json_with_the_matching(tmp_path, params):
    ucf101(tmp_path / "ds")
    summary = prepare_dataset(tmp_path / "ds", tmp_path / "out", params)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["matching"] == summary["matching"]
    assert summary["matching"]["lists"] == "trainlist01.txt + testlist01.txt" and summary["unreadable_entries"] == 0
    assert summary["list_matching"] == "12 of 12 listed videos found (trainlist01.txt + testlist01.txt)"


def test_no_usable_video_says_why_from_the_failures(tmp_path, params, make_video):
    root = tmp_path / "ds"
    make_video(root / "loose.mp4", frames=3, size=16)
    (root / "a").mkdir()
    (root / "a" / "empty.mp4").write_bytes(b"")
    with pytest.raises(DatasetError) as err:
        prepare_dataset(root, tmp_path / "out", params)
    assert str(err.value).startswith(f"no usable video in {root}: none of the 1 video file(s) decodes; 2 file(s) left")
    assert "not inside a class folder (expected root/<class>/<video>) (1); empty file (0 bytes) (1)" in str(err.value)
    assert len(read_rows(tmp_path / "out" / "failures.csv")) == 2


def test_a_listed_class_without_a_folder_is_a_failure_and_a_lost_class(tmp_path, params):
    import shutil

    ucf101(tmp_path / "ds", groups=6)
    shutil.rmtree(tmp_path / "ds" / "UCF-101" / "Typing")  # classInd.txt and both lists still name it
    out = tmp_path / "out"
    summary = prepare_dataset(tmp_path / "ds", out, params)
    assert (out / "classes.txt").read_text() == "ApplyLipstick\nHandstandPushups\n"
    assert summary["classes_without_usable_videos"] == ["Typing"]
    rows = [f for f in read_rows(out / "failures.csv") if f["path"] == "Typing/"]
    assert len(rows) == 1 and "class 'Typing'" in rows[0]["reason"]
    reason = rows[0]["reason"]
    assert "6 entries in trainlist01.txt + testlist01.txt" in reason and "no video of it" in reason


def test_the_same_kinetics_clip_in_two_folders_is_listed(tmp_path, params):
    import shutil

    kinetics(tmp_path / "ds", missing=0)
    clip = next((tmp_path / "ds" / "validate").rglob("*.mp4"))
    twin = tmp_path / "ds" / "train" / clip.parent.name / clip.name
    shutil.copyfile(clip, twin)  # the same clip downloaded under train/ too
    out = tmp_path / "out"
    prepare_dataset(tmp_path / "ds", out, params)
    used = {Path(r["path"]).resolve() for r in read_rows(out / "manifest.csv")}
    assert clip.resolve() in used and twin.resolve() not in used  # validate.csv's row: the validate/ copy
    listed = [f for f in read_rows(out / "failures.csv") if Path(f["path"]).resolve() == twin.resolve()]
    assert len(listed) == 1 and f"same clip as {clip.relative_to(tmp_path / 'ds').as_posix()}" in listed[0]["reason"]


def test_kinetics_with_only_train_csv_says_which_file_to_add(tmp_path, params):
    kinetics(tmp_path / "ds", missing=0)
    (tmp_path / "ds" / "validate.csv").unlink()
    with pytest.raises(DatasetError, match=r"every row of train\.csv is in train.*add validate\.csv"):
        prepare_dataset(tmp_path / "ds", tmp_path / "out", params)


def test_an_all_train_manifest_says_which_split_value_to_add(tmp_path, params, make_video):
    lines = ["path,label,split"]
    for c in ("a", "b"):
        for i in range(4):
            make_video(tmp_path / "ds" / c / f"{i}.mp4", frames=3, size=16, seed=10 * ord(c) + i)
            lines.append(f"{c}/{i}.mp4,{c},train")
    (tmp_path / "ds" / "manifest.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"manifest\.csv gives split = train for every video.*split = test"):
        prepare_dataset(tmp_path / "ds", tmp_path / "out", params)
