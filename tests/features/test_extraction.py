"""The extract stage (framecache.features.extraction and its steps, stages.extract): bad videos recorded not fatal,
determinism, batch independence, incremental reuse, crash safety (SIGKILL, full disk) and the predict-time feature path.

Orchestration tests run the real efficientnet_lite0 at a 32-64 px input on tiny clips: cheap, and every
code path is the production one.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from framecache.backbones.build import build_backbone
from framecache.cli import run
from framecache.compute import resolve_device
from framecache.config.params import validate
from framecache.errors import FramecacheError
from framecache.features import embed, extraction, precision
from framecache.features.batching import VideoJob
from framecache.features.inputs import expected_provenance
from framecache.features.store import FeatureStore, StaleStoreError, StoreWriter
from framecache.fileio import file_sha256
from framecache.video.sampling import uniform_indices
from stages.extract import main as extract_main
from tests.builders import default_params, merged, write_params

REPO = Path(__file__).resolve().parents[2]


# one intra-op thread (see conftest.one_torch_thread)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# tiny inputs, one process: cheap, and every code path is the production one. These tests mean CPU (fp32: two
# runs bit-identical, features reproduced exactly): they pin it, so a CUDA host runs the same checks; what holds on
# any device is tested with device auto below, within the documented tolerance
SMALL = {
    "image_size": 32,
    "num_frames": 4,
    "num_workers": 0,
    "batch_size": 4,
    "checkpoint_seconds": 60,
    "device": "cpu",
}


def xparams(**extract):
    return validate(merged(default_params(), {"extract": {**SMALL, **extract}})).extract


def clip_frames(n: int, seed: int, size: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
    return [np.roll(base, shift=3 * i, axis=1) for i in range(n)]


@pytest.fixture(scope="module")
def extract_clips(tmp_path_factory):
    """Eight small valid clips of 5-19 frames."""
    folder = tmp_path_factory.mktemp("clips")
    from tests.conftest import write_frames

    return [write_frames(folder / f"clip{i:02d}.mp4", clip_frames(5 + 2 * i, seed=i)) for i in range(8)]


def run_stage(tmp: Path, manifest: Path, classes: Path, name: str = "s.h5", **extract) -> dict:
    out = tmp / "features"
    return extraction.run_extract(
        xparams(**extract),
        manifest,
        classes,
        out / name,
        out / "failures.csv",
        out / "metrics.json",
        progress=False,
    )


def store_arrays(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as h:
        return {name: h[name][()] for name in h}


# ---------------------------------------------------------------------------------------------- the stage


def test_bad_videos_are_recorded_and_the_rest_extracted(tmp_path, extract_clip, extract_manifest, extract_clips):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mp4").touch()
    (bad / "text.mp4").write_text("not a video at all\n")
    whole = extract_clips[5].read_bytes()
    (bad / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    one = extract_clip(bad / "one frame.mp4", clip_frames(1, seed=40))
    short = extract_clip(bad / "short.mp4", clip_frames(2, seed=41))
    odd = extract_clip(bad / "dossier ünï 日本" / "vidéo 1.mp4", clip_frames(9, seed=42))
    videos = [*extract_clips[:3], bad / "empty.mp4", bad / "text.mp4", bad / "truncated.mp4", one, short, odd]
    manifest, classes = extract_manifest(tmp_path / "prepared", videos)
    argv = [
        "--params", str(_write_params(tmp_path, max_failure_rate=0.5)),
        "--manifest", str(manifest), "--classes", str(classes),
        "--out", str(tmp_path / "f" / "s.h5"), "--failures", str(tmp_path / "f" / "failures.csv"),
        "--metrics", str(tmp_path / "f" / "metrics.json"),
    ]  # fmt: skip
    assert extract_main(argv) == 0

    failures = pd.read_csv(tmp_path / "f" / "failures.csv")
    assert sorted(failures["video_id"]) == ["empty.mp4", "text.mp4", "truncated.mp4"]
    reasons = dict(zip(failures["video_id"], failures["reason"], strict=True))
    assert "empty" in reasons["empty.mp4"] and "not a readable video" in reasons["text.mp4"]
    metrics = pd.read_json(tmp_path / "f" / "metrics.json", typ="series")
    assert (metrics["videos"], metrics["failures"], metrics["videos_stored"]) == (9, 3, 6)
    assert metrics["short_videos"] == 2 and metrics["device"] == "cpu"
    with FeatureStore.open(tmp_path / "f" / "s.h5", expect=expected_provenance(xparams())) as store:
        assert store.ids == ["clip00.mp4", "clip01.mp4", "clip02.mp4", "one frame.mp4", "short.mp4", "vidéo 1.mp4"]
        table = store.videos().set_index("video_id")
        assert table.loc["one frame.mp4", "num_samples"] == 1 and table.loc["one frame.mp4", "policy"] == "keep"
        assert table.loc["short.mp4", "num_samples"] == 2
        assert table.loc["vidéo 1.mp4", "num_samples"] == 4
        assert store.frame_info("vidéo 1.mp4")["frame_index"].tolist() == uniform_indices(9, 4).tolist()
        for x in store.load().X:
            assert x.shape[1] == 1280 and np.isfinite(x).all()

    # above the threshold the stage fails (exit 2) — after writing its outputs for inspection
    argv[1] = str(_write_params(tmp_path, max_failure_rate=0.2))
    (tmp_path / "f" / "failures.csv").unlink()
    with pytest.raises(SystemExit) as exit_info:
        run(extract_main, argv)
    assert exit_info.value.code == 2
    assert (tmp_path / "f" / "failures.csv").is_file() and (tmp_path / "f" / "s.h5").is_file()


def _write_params(tmp_path: Path, **extract) -> Path:
    return write_params(tmp_path, extract={**SMALL, **extract})


def test_two_runs_give_identical_stores(tmp_path, extract_manifest, extract_clips):
    manifest, classes = extract_manifest(tmp_path / "prepared", extract_clips[:5])
    run_stage(tmp_path / "a", manifest, classes)
    run_stage(tmp_path / "b", manifest, classes, num_workers=2)  # decoding in worker processes
    a = store_arrays(tmp_path / "a" / "features" / "s.h5")
    b = store_arrays(tmp_path / "b" / "features" / "s.h5")
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_batch_composition_does_not_change_features(extract_clips):
    """Same frame, other batch neighbours: bitwise equal; another batch size: equal up to float16 rounding."""
    from framecache.video.sampling import Sampling

    bb = build_backbone("efficientnet_lite0", image_size=32)
    sampling = Sampling(num_frames=4)

    def feats(paths, batch_size):
        jobs = [VideoJob(pos=i, path=str(p)) for i, p in enumerate(paths)]
        return {
            job.path: f
            for job, _s, f, _e in embed.extract_samples(
                jobs, lambda: bb, bb.preprocessing, sampling, batch_size=batch_size, amp=None, num_workers=0
            )
        }

    paths = [str(p) for p in extract_clips[:6]]
    base = feats(paths, 3)
    shuffled = feats(paths[::-1], 3)  # videos straddle batches differently (4 frames per video, 3 per batch)
    alone = feats(paths[2:3], 3)  # padded batch
    for p in paths:
        assert np.array_equal(base[p], shuffled[p])
    assert np.array_equal(base[paths[2]], alone[paths[2]])
    for batch_size in (1, 8):
        other = feats(paths, batch_size)
        for p in paths:
            np.testing.assert_allclose(other[p], base[p], rtol=2e-3, atol=2e-4)  # float16 has ~1e-3 steps


def test_incremental_run_copies_unchanged_videos(tmp_path, extract_clip, extract_manifest, extract_clips):
    folder = tmp_path / "videos"
    videos = [extract_clip(folder / p.name, clip_frames(5 + 2 * i, seed=i)) for i, p in enumerate(extract_clips[:6])]
    manifest, classes = extract_manifest(tmp_path / "prepared", videos)
    first = run_stage(tmp_path, manifest, classes)
    assert (first["videos_computed"], first["videos_reused"]) == (6, 0)
    before = store_arrays(tmp_path / "features" / "s.h5")

    # one clip changes content, one is new, one is removed
    extract_clip(videos[1], clip_frames(8, seed=99))
    new = extract_clip(folder / "new.mp4", clip_frames(7, seed=100))
    manifest, classes = extract_manifest(tmp_path / "prepared", [*videos[:5], new])
    second = run_stage(tmp_path, manifest, classes)
    assert (second["videos_computed"], second["videos_reused"]) == (2, 4)
    with FeatureStore.open(tmp_path / "features" / "s.h5") as store:
        assert store.ids == [p.name for p in [*videos[:5], new]]
        offsets = before["offsets"]
        for i in (0, 2, 3, 4):  # untouched videos: the very same stored rows
            assert np.array_equal(store.record(i).features, before["features"][offsets[i] : offsets[i + 1]])
        assert not np.array_equal(store.record(1).features, before["features"][offsets[1] : offsets[2]])

    # a different extraction config makes nothing reusable
    third = run_stage(tmp_path, manifest, classes, num_frames=3)
    assert (third["videos_computed"], third["videos_reused"]) == (6, 0)
    with pytest.raises(StaleStoreError, match=r"sampling\.num_frames: store has 3, params want 4"):
        FeatureStore.open(tmp_path / "features" / "s.h5", expect=expected_provenance(xparams()))


def test_duplicate_content_is_computed_once(tmp_path, extract_manifest, extract_clips):
    twin = tmp_path / "twin.mp4"
    twin.write_bytes(extract_clips[0].read_bytes())
    manifest, classes = extract_manifest(tmp_path / "prepared", [extract_clips[0], twin], labels=["a", "b"])
    metrics = run_stage(tmp_path, manifest, classes)
    assert metrics["videos_computed"] == 1 and metrics["videos_stored"] == 2
    with FeatureStore.open(tmp_path / "features" / "s.h5") as store:
        assert np.array_equal(store.sequence(0), store.sequence(1))
        assert store.load().y.tolist() == [0, 1]  # labels still per manifest row


def fail_the_final_store(monkeypatch, name: str = "s.h5"):
    """A full disk at the last write: closing the final store's temporary file ``name`` fails with ENOSPC
    (journal parts still close). Returns the real ``StoreWriter.close``, to put back."""
    real_close = StoreWriter.close

    def close_fails_for_the_store(self):
        if self.path.name.startswith(f".{name}.tmp-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_close(self)

    monkeypatch.setattr(StoreWriter, "close", close_fails_for_the_store)
    return real_close


def test_full_disk_leaves_no_final_file(tmp_path, monkeypatch, extract_manifest, extract_clips):
    manifest, classes = extract_manifest(tmp_path / "prepared", extract_clips[:3])
    run_stage(tmp_path, manifest, classes, name="old.h5")
    final = tmp_path / "features" / "s.h5"
    real_close = fail_the_final_store(monkeypatch)
    with pytest.raises(FramecacheError, match="No space left on device"):
        run_stage(tmp_path, manifest, classes)
    assert not final.exists()
    assert not list(final.parent.glob(".s.h5.tmp-*"))
    assert list((final.parent / ".s.h5.journal").glob("part-*.h5"))  # the computed features survive

    monkeypatch.setattr(StoreWriter, "close", real_close)
    again = run_stage(tmp_path, manifest, classes)
    assert again["videos_computed"] == 0 and again["videos_reused"] == 3  # from the journal
    assert not (final.parent / ".s.h5.journal").exists()
    a, b = store_arrays(final), store_arrays(tmp_path / "features" / "old.h5")
    assert np.array_equal(a["features"], b["features"])


@pytest.mark.slow
def test_sigkill_mid_extraction_then_rerun(tmp_path, extract_clip, extract_manifest):
    """A killed run never leaves a broken store; the rerun completes it, resuming from the journal."""
    clips = [extract_clip(tmp_path / "v" / f"k{i:02d}.mp4", clip_frames(6, seed=200 + i, size=48)) for i in range(40)]
    manifest, classes = extract_manifest(tmp_path / "prepared", clips[:4])
    params = _write_params(tmp_path, image_size=48, batch_size=1, checkpoint_seconds=0)
    out = tmp_path / "f" / "s.h5"
    cmd = [
        sys.executable, "-m", "stages.extract", "--params", str(params), "--manifest", str(manifest),
        "--classes", str(classes), "--out", str(out), "--failures", str(tmp_path / "f" / "failures.csv"),
        "--metrics", str(tmp_path / "f" / "metrics.json"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    extract_main(cmd[3:])  # the previous store, built in-process
    previous = file_sha256(out)

    manifest, classes = extract_manifest(tmp_path / "prepared", clips)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out.parent / ".s.h5.journal"
    deadline = time.monotonic() + 300
    while len(list(journal.glob("part-*.h5"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the extraction finished before it could be killed"
    assert file_sha256(out) == previous  # the previous store is untouched
    with FeatureStore.open(out) as store:
        assert len(store) == 4

    assert extract_main(cmd[3:]) == 0  # the rerun
    metrics = pd.read_json(tmp_path / "f" / "metrics.json", typ="series")
    assert metrics["videos_stored"] == 40
    assert metrics["videos_reused"] >= 4 + 3 - 1  # the old store plus the journal parts of the killed run
    assert metrics["videos_computed"] < 36
    assert not journal.exists() and not list(out.parent.glob(".s.h5.tmp-*"))

    reference = tmp_path / "ref"
    extract_main(
        [*cmd[3:-6], "--out", str(reference / "s.h5"), "--failures", str(reference / "failures.csv"),
         "--metrics", str(reference / "metrics.json")]
    )  # fmt: skip
    a, b = store_arrays(out), store_arrays(reference / "s.h5")
    for name in a:
        assert np.array_equal(a[name], b[name]), name


# ---------------------------------------------------------------------------------------------- predict path


def test_features_for_videos_reproduce_the_store(tmp_path, extract_manifest, extract_clips, caplog):
    manifest, classes = extract_manifest(tmp_path / "prepared", extract_clips[:4])
    run_stage(tmp_path, manifest, classes)
    (tmp_path / "junk.mp4").write_text("nope")
    with FeatureStore.open(tmp_path / "features" / "s.h5") as store:
        computed_as = set(store.column("compute"))
        assert computed_as == {"cpu/fp32"}  # the store records how its features were computed, per video
        results = embed.features_for_videos(
            [*extract_clips[:4], tmp_path / "junk.mp4"],
            store.provenance,
            device="cpu",
            batch_size=4,
            computed_as=computed_as,
        )
        assert "differ" not in caplog.text  # computed the store's way: nothing to warn about
        for i in range(4):
            feats, reason = results[i]
            assert reason is None and np.array_equal(feats, store.sequence(i))
        assert results[4][0] is None and "not a readable video" in results[4][1]
        # a store computed on a GPU in bf16, new videos on this CPU: the one warning line with the measured gap
        (again, _), *_ = embed.features_for_videos(
            extract_clips[:1], store.provenance, device="cpu", batch_size=4, computed_as={"cuda/bfloat16"}
        )
        assert np.array_equal(again, store.sequence(0))  # computed in fp32 as ever: only the store differs
        warned = [r.getMessage() for r in caplog.records if "differ" in r.getMessage()]
        assert len(warned) == 1 and "computed as cpu/fp32, the feature store's as cuda/bfloat16" in warned[0]
        other = {**store.provenance, "weights_sha256": "0" * 64}
    with pytest.raises(FramecacheError, match="not the one the feature store was built with"):
        embed.features_for_videos(extract_clips[:1], other, device="cpu")


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_features_for_videos_on_any_device_lie_within_the_documented_gap(
    tmp_path, extract_manifest, extract_clips, caplog, device
):
    """A store extracted on this host's default device (CUDA in bf16 where there is one), new videos' features on
    ``device``: equal where they are computed the store's way on CPU, else within PRECISION_GAP of the precisions
    involved, with the one warning line saying so."""
    manifest, classes = extract_manifest(tmp_path / "prepared", extract_clips[:2])
    run_stage(tmp_path, manifest, classes, device="auto")
    with FeatureStore.open(tmp_path / "features" / "s.h5") as store:
        computed_as, stored = set(store.column("compute")), store.load().X
        provenance = store.provenance
    results = embed.features_for_videos(
        extract_clips[:2], provenance, device=device, batch_size=4, computed_as=computed_as
    )
    dev = resolve_device(device)
    mine = precision.compute_label(dev, precision.matching_amp(dev, computed_as))
    if computed_as == {mine} == {"cpu/fp32"}:
        for (feats, _), want in zip(results, stored, strict=True):
            assert np.array_equal(feats, want)
        assert "differ" not in caplog.text
        return
    precisions = {c.split("/")[1] for c in {mine, *computed_as}}
    gap = max([precision.PRECISION_GAP.get(p, 0.0) for p in precisions] + [2e-3])  # at least float16 rounding
    for (feats, _), want in zip(results, stored, strict=True):
        rel = np.linalg.norm(feats - want, axis=1) / np.linalg.norm(want, axis=1)
        assert rel.max() <= gap, (mine, computed_as, rel.max())
    assert (mine not in computed_as) == ("differ" in caplog.text)


def test_precision_warning_names_both_ways_and_the_measured_gap():
    assert precision.precision_warning("cpu/fp32", {"cpu/fp32"}) is None
    line = precision.precision_warning("cpu/fp32", {"cuda/bfloat16"})
    assert "computed as cpu/fp32, the feature store's as cuda/bfloat16" in line and "\n" not in line
    assert f"about {precision.PRECISION_GAP['bfloat16']:.0%} of a feature's norm" in line
    assert "not measured" in precision.precision_warning("cuda/fp32", {"cpu/fp32"})
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert precision.matching_amp(cpu, {"cuda/bfloat16"}) is None  # CPU autocast: many times slower, not the same
    assert precision.matching_amp(cuda, {"cuda/bfloat16"}) is torch.bfloat16
    assert precision.matching_amp(cuda, {"cpu/fp32"}) is None


def test_expected_provenance_tracks_params():
    a = expected_provenance(xparams())
    assert a["backbone"] == "efficientnet_lite0" and a["k"] == 1280 and a["dtype"] == "float16"
    assert a["preprocessing"]["crop"] == 32 and a["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert a["sampling"] == {"policy": "uniform", "num_frames": 4, "short_videos": "keep"}
    # keys that do not change the features do not change the provenance
    assert expected_provenance(xparams(num_workers=2, batch_size=1, fps=9.0)) == a
    assert expected_provenance(xparams(dtype="float32")) != a


def test_device_and_batch_defaults(tmp_path, extract_manifest, extract_clips):
    cpu = resolve_device("cpu", "extract.device")
    assert embed.resolve_batch_size(None, cpu) == embed.DEFAULT_BATCH_SIZE["cpu"]
    assert embed.resolve_batch_size(7, cpu) == 7
    assert embed.resolve_amp("auto", cpu) is None  # CPU stays fp32
    if not torch.cuda.is_available():
        manifest, classes = extract_manifest(tmp_path / "prepared", extract_clips[:1])
        with pytest.raises(FramecacheError, match=r"extract\.device = 'cuda' but torch sees no CUDA GPU"):
            run_stage(tmp_path, manifest, classes, device="cuda")
        assert not (tmp_path / "features").exists()  # refused before writing anything


# ---------------------------------------------------------------------------------------------- real clips


def test_real_clips_with_the_default_backbone(tmp_path, extract_manifest, weizmann64, ud810):
    """Full-size preprocessing (224 px) and 16 frames on real H.264 and MPEG-4 AVI clips."""
    bend = sorted((weizmann64 / "bend").glob("*.mp4"))[:1]
    jack = sorted((weizmann64 / "jack").glob("*.mp4"))[:1]
    avi = sorted(ud810.glob("A1/*.avi"))[:1]
    manifest, classes = extract_manifest(tmp_path / "prepared", [*bend, *jack, *avi], labels=["a", "b", "c"])
    metrics = run_stage(tmp_path, manifest, classes, image_size=None, num_frames=16, num_workers=2)
    assert metrics["failures"] == 0 and metrics["frames"] == 48
    with FeatureStore.open(tmp_path / "features" / "s.h5") as store:
        assert store.provenance["preprocessing"]["crop"] == 224
        seqs = store.load()
        for i, x in enumerate(seqs.X):
            assert x.shape == (16, 1280) and np.isfinite(x).all()
            assert x.std(axis=0).mean() > 0  # frames differ: real motion, real features
            assert np.all(np.diff(store.frame_info(i)["timestamp"]) > 0)
        # different scenes give different features
        assert np.abs(seqs.X[0].mean(0) - seqs.X[2].mean(0)).mean() > 0.01
