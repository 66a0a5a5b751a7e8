"""Atomic outputs: complete or absent, never partial; ordinary permissions; hashing."""

from __future__ import annotations

import hashlib
import os

import pytest

from framecache.fileio import atomic_path, file_sha256, read_json, write_csv, write_json


def test_success_renames_into_place_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_json(target, {"a": 1})
    assert read_json(target) == {"a": 1}
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_failure_keeps_the_previous_output_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.csv"
    write_csv(target, [{"x": 1}], ["x"])
    before = target.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_empty_table_still_has_its_header(tmp_path):
    write_csv(tmp_path / "f.csv", [], ["path", "reason"])
    assert (tmp_path / "f.csv").read_text() == "path,reason\n"


def test_sha256_matches_hashlib_on_multi_chunk_file(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "blob").write_bytes(data)
    assert file_sha256(tmp_path / "blob") == hashlib.sha256(data).hexdigest()


def test_output_set_replaces_the_named_outputs_only_and_keeps_bugs_as_tracebacks(tmp_path):
    from framecache.errors import FramecacheError
    from framecache.fileio import output_set

    final = tmp_path / "out"
    (final / "figs").mkdir(parents=True)
    (final / "figs" / "old.png").write_bytes(b"old")
    (final / "gone.csv").write_text("not written by the new run")
    (final / "mine.txt").write_text("not an output")
    with output_set(final, ["figs", "table.csv", "gone.csv"], "the test outputs", "redo") as staging:
        (staging / "figs").mkdir()
        (staging / "figs" / "new.png").write_bytes(b"new")
        write_csv(staging / "table.csv", [], ["x"])
    assert sorted(p.relative_to(final).as_posix() for p in final.rglob("*")) == [
        "figs", "figs/new.png", "mine.txt", "table.csv"
    ]  # fmt: skip
    with pytest.raises(FileNotFoundError), output_set(final, ["table.csv"], "x", "redo") as staging:
        (staging / "missing" / "x").read_text()  # a bug, not the user's disk: its traceback stays
    denied = r"could not write x into .*Permission denied.*re-run `redo`"
    with pytest.raises(FramecacheError, match=denied), output_set(final, ["table.csv"], "x", "redo"):
        raise PermissionError(13, "Permission denied")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
