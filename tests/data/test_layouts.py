"""The dataset layouts as they are distributed (framecache.data.discovery, split_lists, kinetics): the UCF101 archive
with its three official splits, HMDB51's split files, Kinetics-style CSVs; how many list entries matched, with
examples of each side when some or all do not."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from framecache.data.discovery import DatasetError, discover
from framecache.data.kinetics import clip_stem
from tests.data.layouts import HMDB_CLASSES, UCF_CLASSES, hmdb51, kinetics, ucf101

EXTS = [".mp4", ".avi"]


def test_ucf101_archive_as_unpacked_all_three_splits(tmp_path):
    tests = ucf101(tmp_path, fake=True)
    seen_test = []
    for n in (1, 2, 3):
        found = discover(tmp_path, EXTS, n)
        assert found.source == "split_lists"
        # the class order and spelling of classInd.txt, never the archive folder 'UCF-101'
        assert found.classes == ["ApplyLipstick", "HandstandPushups", "Typing"]
        assert {c.label for c in found.candidates} == set(found.classes)
        test_ids = {c.video_id.split("/", 2)[2] for c in found.candidates if c.split == "test"}
        assert {t.split("/")[1] for t in tests[n]} == test_ids
        assert Counter(c.split for c in found.candidates) == {"train": 12 - len(tests[n]), "test": len(tests[n])}
        assert found.candidates[0].video_id.startswith("UCF-101/")
        m = found.matching
        assert (m.listed, m.found, m.matched, m.complete) == (12, 12, 12, True)
        assert found.failures == []
        seen_test.append(test_ids)
    assert seen_test[0] != seen_test[1] != seen_test[2]  # prepare.split_list really picks the split


def test_ucf101_folder_itself_is_class_folders_and_hints_at_the_lists(tmp_path, caplog):
    ucf101(tmp_path, fake=True)
    with caplog.at_level(logging.WARNING, logger="framecache.prepare"):
        found = discover(tmp_path / "UCF-101", EXTS, 1)
    assert found.source == "folders"
    assert {c.label for c in found.candidates} == set(UCF_CLASSES)
    assert "official split lists sit beside it" in caplog.text and str(tmp_path) in caplog.text


def test_split_lists_matching_no_file_say_how_many_and_show_both_sides(tmp_path):
    ucf101(tmp_path / "lists_only", fake=True)
    for video in sorted((tmp_path / "lists_only" / "UCF-101").rglob("*.avi")):
        renamed = video.with_name(video.name.replace("v_", "clip_"))  # a re-encode with other names
        video.rename(renamed)
    with pytest.raises(DatasetError) as err:
        discover(tmp_path / "lists_only", EXTS, 1)
    msg = str(err.value)
    assert "trainlist01.txt + testlist01.txt list(s) 12 video(s); 0 of them match the 12 video file(s)" in msg
    assert "listed but not found (12), e.g. 'ApplyLipstick/v_ApplyLipstick_g02_c01.avi'," in msg
    assert "found but not listed (12), e.g. 'UCF-101/ApplyLipstick/clip_ApplyLipstick_g01_c01.avi'," in msg
    assert "none of the 0 files" not in msg


def test_split_lists_matching_some_files_record_the_rest(tmp_path):
    ucf101(tmp_path, fake=True)
    gone = tmp_path / "UCF-101" / "Typing" / "v_Typing_g02_c01.avi"
    gone.unlink()
    (tmp_path / "UCF-101" / "Typing" / "v_Typing_g99_c01.avi").write_bytes(b"new")
    found = discover(tmp_path, EXTS, 1)
    m = found.matching
    assert (m.listed, m.found, m.matched) == (12, 12, 11) and not m.complete
    assert m.entries_without_file == ["Typing/v_Typing_g02_c01.avi"]
    assert m.files_not_listed == ["UCF-101/Typing/v_Typing_g99_c01.avi"]
    reasons = {Path(f.path).name: f.reason for f in found.failures}
    assert reasons["v_Typing_g02_c01.avi"].startswith("listed in trainlist01.txt line ")
    assert reasons["v_Typing_g99_c01.avi"] == "not listed in trainlist01.txt + testlist01.txt"
    assert "examples_listed_not_found" in m.as_dict() and m.as_dict()["listed_not_found"] == 1


def test_a_video_listed_in_train_and_test_is_an_error(tmp_path):
    ucf101(tmp_path, fake=True)
    lists = tmp_path / "ucfTrainTestlist"
    with open(lists / "testlist01.txt", "a") as fh:
        fh.write("Typing/v_Typing_g02_c01.avi\n")
    with pytest.raises(DatasetError, match=r"Typing/v_Typing_g02_c01.avi is listed twice \(trainlist01.txt line \d"):
        discover(tmp_path, EXTS, 1)


def test_hmdb51_split_files(tmp_path):
    hmdb51(tmp_path, fake=True)
    for n in (1, 2, 3):
        found = discover(tmp_path, EXTS, n)
        assert found.source == "hmdb51_splits" and found.classes is None
        by_name = {Path(c.video_id).name: c for c in found.candidates}
        assert len(by_name) == 10 and {c.label for c in by_name.values()} == set(HMDB_CLASSES)
        tests = sorted(name for name, c in by_name.items() if c.split == "test" and c.label == "pour")
        assert tests == [f"pour_clip{i}_f_cm_np1_ri_med_{i}.avi" for i in range(5) if i % 3 == n - 1]
        unused = {Path(f.path).name: f.reason for f in found.failures}
        assert unused == {
            f"{c}_clip5_f_cm_np1_ri_med_5.avi": f"marked 0 (not used in this split) in {c}_test_split{n}.txt line 6"
            for c in HMDB_CLASSES
        }
        assert found.matching.matched == 12 and found.matching.complete
    bad = tmp_path / "testTrainMulti_7030_splits" / "pour_test_split1.txt"
    bad.write_text(bad.read_text() + "pour_extra.avi 3\n")
    with pytest.raises(DatasetError, match=r"pour_test_split1.txt line 7: expected '<video> <0\|1\|2>'"):
        discover(tmp_path, EXTS, 1)
    with pytest.raises(DatasetError, match=r"split_list = 4 not found .* available split numbers: 1, 2, 3"):
        discover(tmp_path, EXTS, 4)


def test_kinetics_csvs_resolve_downloaded_clip_names_and_record_missing_videos(tmp_path):
    absent = kinetics(tmp_path, fake=True)
    (tmp_path / "train" / "stray_000000_000010.mp4").write_bytes(b"x")  # a clip no row names
    found = discover(tmp_path, EXTS, 1)
    assert found.source == "kinetics_csv"
    assert len(found.candidates) == 11 and {c.label for c in found.candidates} == {"abseiling", "air drumming"}
    assert Counter(c.split for c in found.candidates) == {"train": 8, "val": 3}
    assert all(c.group == Path(c.video_id).stem[:-14] for c in found.candidates)  # group = youtube_id
    reasons = {f.path: f.reason for f in found.failures}
    assert reasons[f"{absent[0]}.mp4"] == (
        f"validate.csv line 5 (label 'air drumming'): no {absent[0]}.* under {tmp_path}"
    )
    assert reasons[str(tmp_path / "train" / "stray_000000_000010.mp4")] == "no row of train.csv, validate.csv names it"
    m = found.matching
    assert (m.listed, m.found, m.matched, m.entries_without_file) == (12, 12, 11, absent)
    assert clip_stem("abc", "7", "17.0") == "abc_000007_000017"


def test_a_kinetics_csv_given_directly_and_one_matching_nothing(tmp_path):
    kinetics(tmp_path, fake=True, missing=0)
    found = discover(tmp_path / "train.csv", EXTS, 1)
    assert found.source == "kinetics_csv" and len(found.candidates) == 8
    assert {c.split for c in found.candidates} == {"train"}
    for clip in tmp_path.rglob("*.mp4"):
        clip.rename(clip.with_name("renamed_" + clip.name))
    with pytest.raises(DatasetError) as err:
        discover(tmp_path, EXTS, 1)
    assert "train.csv + validate.csv list(s) 12 video(s); 0 of them match the 12 video file(s)" in str(err.value)
    assert "e.g. 'yt00-_x0000_000000_000010', 'yt01-_x0001_000010_000020'" in str(err.value)
    (tmp_path / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nx,abc,1,2,holdout\n")
    with pytest.raises(DatasetError, match=r"train.csv line 2: split = 'holdout' is not understood"):
        discover(tmp_path / "train.csv", EXTS, 1)
