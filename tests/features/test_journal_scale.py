"""The resume journal at scale and under faults: hundreds of parts (compacted as they come, copied with a few
files open at a time), a missing or unreadable part named in a FramecacheError, and a full disk at each
write site (journal checkpoint, merge, final store) ending in the "free disk space and re-run" message —
on a real full tmpfs too, where HDF5 used to crash the interpreter at exit."""

from __future__ import annotations

import errno
import os
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framecache.errors import FramecacheError
from framecache.features import journal as journal_mod
from framecache.features.assemble import assemble_store
from framecache.features.inputs import ExtractInputs
from framecache.features.journal import COMPACT_AT, Journal, Source, SourceReader, journal_parts, scan_sources
from framecache.features.store import FeatureStore, StoreWriter, VideoFeatures
from tests.builders import REPO

K = 64
PROVENANCE = {
    "schema_version": 1, "extractor_version": 1, "backbone": "efficientnet_lite0", "weights_sha256": "0" * 64,
    "k": K, "dtype": "float16", "preprocessing": {"resize": 256, "crop": 224},
    "sampling": {"policy": "uniform", "num_frames": 3},
}  # fmt: skip
CLASSES = ["a", "b"]


def video(i: int) -> VideoFeatures:
    t = 2 + i % 3
    return VideoFeatures(
        video_id=f"v{i:04d}", features=np.full((t, K), i % 1000, np.float32), frame_index=np.arange(t),
        timestamp=np.arange(t) / 25.0, frames=t, frames_usable=t, policy="full", note="", path=f"v{i}.mp4",
        label=i % 2, split="train", group=f"g{i}", sha256=f"sha{i:04d}",
    )  # fmt: skip


def inputs_for(n: int) -> ExtractInputs:
    manifest = pd.DataFrame(
        {
            "video_id": [f"v{i:04d}" for i in range(n)],
            "path": [f"v{i}.mp4" for i in range(n)],
            "label_index": [str(i % 2) for i in range(n)],
            "split": ["train"] * n,
            "group": [f"g{i}" for i in range(n)],
        }
    )
    return ExtractInputs(manifest, CLASSES, dict(PROVENANCE))


def checkpoint_each(out: Path, videos: range) -> Journal:
    """A journal with checkpoint_seconds 0: one part per video, as a 13k-video run would write them."""
    journal = Journal(out, PROVENANCE, CLASSES, every=0.0, attrs={})
    for i in videos:
        journal.add(video(i))
    journal.flush()
    return journal


class fd_limit:
    """Lower the soft open-file limit to what is open now plus ``spare``."""

    def __init__(self, spare: int):
        self.spare = spare

    def __enter__(self):
        self.saved = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_now = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + self.spare, self.saved[1]))

    def __exit__(self, *exc):
        resource.setrlimit(resource.RLIMIT_NOFILE, self.saved)


def test_hundreds_of_checkpoints_are_compacted_and_assembled_with_few_files_open(tmp_path):
    out, n = tmp_path / "s.h5", 300
    checkpoint_each(out, range(n))
    parts = journal_parts(out)
    # 300 one-video parts: 9 merges into level 1, the 12 left at level 0
    assert len(parts) == n // COMPACT_AT + n % COMPACT_AT < 2 * COMPACT_AT
    assert sorted({level for _, level, _ in parts}) == [0, 1]
    sources = scan_sources(out, PROVENANCE)
    assert sorted(sha for s in sources for sha in s.shas) == [f"sha{i:04d}" for i in range(n)]

    with fd_limit(spare=24):  # all parts open at once would need more than this
        assembled = assemble_store(inputs_for(n), [f"sha{i:04d}" for i in range(n)], {}, out, "lzf", {})
    assert not assembled.failed and assembled.frames == sum(2 + i % 3 for i in range(n))
    with FeatureStore.open(out) as store:
        assert store.ids == [f"v{i:04d}" for i in range(n)]
        assert [int(store.sequence(i)[0, 0]) for i in (0, 123, 299)] == [0, 123, 299]


def test_hundreds_of_uncompacted_parts_of_a_killed_run_are_read_a_few_at_a_time(tmp_path, monkeypatch):
    out, n = tmp_path / "s.h5", 200
    monkeypatch.setattr(journal_mod, "COMPACT_AT", 10**6)  # a run that never compacted (older code)
    checkpoint_each(out, range(n))
    assert len(journal_parts(out)) == n
    with fd_limit(spare=24):
        assembled = assemble_store(inputs_for(n), [f"sha{i:04d}" for i in range(n)], {}, out, "none", {})
    assert assembled.frames == sum(2 + i % 3 for i in range(n))


def test_a_resumed_journal_numbers_after_every_level(tmp_path):
    out = tmp_path / "s.h5"
    checkpoint_each(out, range(COMPACT_AT + 1))  # one L1 part, numbered after the 32 it merged, one L0
    again = Journal(out, PROVENANCE, CLASSES, every=0.0, attrs={})
    assert again.next == max(number for number, _, _ in journal_parts(out)) + 1


def test_a_video_without_features_is_a_clear_error_not_an_assertion(tmp_path):
    out = tmp_path / "s.h5"
    checkpoint_each(out, range(3))
    with pytest.raises(FramecacheError, match=r"video v0003 has no features.*re-run `dvc repro extract`"):
        assemble_store(inputs_for(4), [f"sha{i:04d}" for i in range(4)], {}, out, "none", {})
    assert not out.exists()


def test_an_unreadable_part_is_named_with_what_to_do(tmp_path):
    out = tmp_path / "s.h5"
    checkpoint_each(out, range(2))
    source = scan_sources(out, PROVENANCE)[0]
    source.path.write_bytes(b"not hdf5")  # damaged after the plan indexed it
    with SourceReader() as reader, pytest.raises(FramecacheError, match=rf"{source.path.name}.*delete that file"):
        reader.record(source, 0)
    with SourceReader() as reader, pytest.raises(FramecacheError, match=r"gone\.h5"):
        reader.record(Source(tmp_path / "gone.h5", "journal", ["x"]), 0)


def _enospc_in(name_part: str, monkeypatch, site: str) -> None:
    """Make StoreWriter fail with ENOSPC for files whose name contains ``name_part``, at ``site``: the data
    writes ("_flush") or the final flush of the file ("h5flush", raised as h5py raises it: RuntimeError)."""
    if site == "_flush":
        real = StoreWriter._flush

        def failing(self, final):
            if name_part in self.path.name:
                raise OSError(errno.ENOSPC, "No space left on device")
            real(self, final)

        monkeypatch.setattr(StoreWriter, "_flush", failing)
    else:
        real_finish = StoreWriter._finish

        def failing_finish(self):
            if name_part in self.path.name:
                raise RuntimeError("Unable to synchronously flush file (file write failed: errno = 28, ...)")
            real_finish(self)

        monkeypatch.setattr(StoreWriter, "_finish", failing_finish)


@pytest.mark.parametrize("site", ["_flush", "h5flush"])
def test_full_disk_at_a_checkpoint_keeps_earlier_parts(tmp_path, monkeypatch, site):
    out = tmp_path / "s.h5"
    checkpoint_each(out, range(2))
    _enospc_in(".part-", monkeypatch, site)
    journal = Journal(out, PROVENANCE, CLASSES, every=0.0, attrs={})
    with pytest.raises(FramecacheError, match=r"resume journal part .*part-000003\.h5.*Free disk space and re-run"):
        journal.add(video(2))
    assert [p.name for _, _, p in journal_parts(out)] == ["part-000001.h5", "part-000002.h5"]
    assert not list(journal_mod.journal_dir(out).glob(".part-*"))  # no temporary file left


def test_full_disk_while_merging_parts(tmp_path, monkeypatch):
    out = tmp_path / "s.h5"
    real = StoreWriter._flush

    def failing(self, final):
        if "-L1" in self.path.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, final)

    monkeypatch.setattr(StoreWriter, "_flush", failing)
    with pytest.raises(FramecacheError, match=r"-L1\.h5.*Free disk space and re-run"):
        checkpoint_each(out, range(COMPACT_AT))
    assert len(journal_parts(out)) == COMPACT_AT  # nothing merged, nothing lost


@pytest.mark.parametrize("site", ["_flush", "h5flush"])
def test_full_disk_at_the_final_store(tmp_path, monkeypatch, site):
    out = tmp_path / "s.h5"
    checkpoint_each(out, range(3))
    _enospc_in(".s.h5.tmp-", monkeypatch, site)
    with pytest.raises(FramecacheError, match=r"could not write feature store .*free disk space and re-run"):
        assemble_store(inputs_for(3), [f"sha{i:04d}" for i in range(3)], {}, out, "none", {})
    assert not out.exists() and not list(tmp_path.glob(".s.h5.tmp-*"))
    assert len(journal_parts(out)) == 3


# A real full disk: a small tmpfs (root, or a user namespace where the kernel allows one), filled to several
# levels so that the write fails at every stage of a store: data chunks, per-video columns, the final flush.
WRITE_ON_FULL_DISK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from framecache.cli import run
    from framecache.features.journal import Journal
    from tests.features.test_journal_scale import CLASSES, PROVENANCE, inputs_for, video
    from framecache.features.assemble import assemble_store

    def main(argv):
        out = Path(sys.argv[1]) / "s.h5"
        journal = Journal(out, PROVENANCE, CLASSES, every=1e9, attrs={})
        for i in range(int(sys.argv[2])):
            journal.add(video(i))
        journal.flush()
        assemble_store(inputs_for(int(sys.argv[2])), [f"sha{i:04d}" for i in range(int(sys.argv[2]))], {},
                       out, "none", {})
        journal_kb = sum(p.stat().st_blocks for p in journal.dir.iterdir()) // 2
        print("sizes", journal_kb, out.stat().st_blocks // 2)
        return 0

    run(main, [])
    """
)


def _on_small_tmpfs(disk: Path, ballast_kb: int) -> list[str] | None:
    """A command prefix running its arguments with an 8 MiB tmpfs on ``disk`` holding ``ballast_kb`` KiB of
    other data, or None where no tmpfs can be mounted."""
    fill = f'head -c {ballast_kb}k /dev/zero > "$0/ballast" && ' if ballast_kb else ""
    script = f'mount -t tmpfs -o size=8m tmpfs "$0" && {fill}exec "$@"'
    # a mount namespace of its own (as root, or as a user where the kernel allows it): gone with the process
    if not shutil.which("unshare"):
        return None
    for prefix in (["unshare", "-m", "sh", "-c"], ["unshare", "-rm", "sh", "-c"]):
        if subprocess.run([*prefix, script, str(disk), "true"], capture_output=True).returncode == 0:
            return [*prefix, script, str(disk)]
    return None


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs")
def test_a_real_full_disk_exits_2_with_the_message_and_never_crashes(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if _on_small_tmpfs(disk, 0) is None:
        pytest.skip("cannot mount a small tmpfs here (needs root or unprivileged user namespaces)")
    script = tmp_path / "write.py"
    script.write_text(WRITE_ON_FULL_DISK)
    outcomes = set()

    def write(ballast_kb: int) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*_on_small_tmpfs(disk, ballast_kb), sys.executable, str(script), str(disk), "3000", str(REPO)],
            capture_output=True, text=True, cwd=REPO, timeout=120,
        )  # fmt: skip
        assert done.returncode in (0, 2), (ballast_kb, done.returncode, done.stderr[-2000:])
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr[-2000:]
        if done.returncode == 2:
            assert "ree disk space and re-run" in done.stderr, done.stderr[-2000:]
        outcomes.add((done.returncode, "journal part" in done.stderr))
        return done

    # everything fits on the empty disk; then other data leaves room for the journal but not the store
    # beside it, then not even for the journal
    journal_kb, store_kb = (int(x) for x in write(0).stdout.split()[1:3])
    for ballast_kb in (8192 - journal_kb - store_kb // 2, 8192 - journal_kb // 2):
        write(ballast_kb)
    assert outcomes == {(0, False), (2, True), (2, False)}, outcomes
