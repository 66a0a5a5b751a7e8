"""Stage 1 orchestration: run a backbone over the sampled frames of every video in the manifest, batched
across videos, into one provenance-stamped HDF5 feature store — crash-safe, incremental, failure-tolerant.

Pipeline. Videos are decoded in DataLoader worker processes (``extract.num_workers``) by
:func:`framecache.video.decode.load_sample`, which keeps only the sampled frames, already resized and cropped. The main
process cuts the stream of frames into fixed-size batches across video boundaries and runs the model:
fp32 channels_last on CPU; AMP (bf16 where supported, else fp16), channels_last, pinned staging buffers and
non-blocking copies on CUDA, with the next batch launched before the previous one's features are fetched.
The last batch is padded to the full batch size, so every forward pass has the same shape and a frame's
features never depend on which frames shared its batch (on CPU they are bitwise identical).

Crash safety. The store is only ever written to a temporary file beside ``--out`` and renamed over it when
complete (``framecache.fileio.atomic_path``): a kill, an exception or a full disk leaves the previous store (or
none), never a truncated one. Features computed so far are checkpointed every ``extract.checkpoint_seconds``
into a *journal* folder ``.<store name>.journal/`` next to the store: each part is itself a small store,
written atomically. A killed run therefore loses at most one checkpoint interval; the next run reuses the
parts, and deletes the journal once the new store is in place.

Incremental runs. A video is copied instead of recomputed when an earlier store — the previous store at
``--out`` or a journal part — holds a video with the same content hash (``sha256`` from the manifest) and
was built with the same provenance (:func:`expected_provenance`: backbone, weights checksum, preprocessing,
sampling, dtype). Library versions and the compute device are recorded but do not invalidate it. For the
previous store to survive until the stage runs, **dvc.yaml must declare the store output with
``persist: true``** (DVC otherwise deletes outputs before running a stage); the journal lives outside the
declared outputs, so resuming after a kill works either way. Nothing here writes into the previous store,
so a store that DVC hard-links from its cache is never modified.

Scale-out. Under ``torchrun`` every rank runs :func:`run_extract`: rank 0 decides which videos are left,
each rank computes its shard (:mod:`framecache.features.distributed`) into journal parts of its own
(``part-rank<R>-<N>.h5``), and after the ranks meet, rank 0 assembles the store from the parts exactly as a
single process does (data copied, manifest order) and writes every output. Parts are what the ranks share,
so a killed rank or node leaves its finished parts for the rerun; the journal must be on storage every rank
sees.

Failures. A video that cannot be decoded is recorded (video_id, path, reason) in the failures CSV and the
stage continues; it exits non-zero (a FramecacheError, after writing every output) only when the share of
failed videos exceeds ``extract.max_failure_rate``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from framecache.errors import FramecacheError, VideoError
from framecache.features import backbones, distributed
from framecache.features.backbones import Backbone, Preprocessing
from framecache.features.store import (
    FeatureStore,
    StoreWriter,
    VideoFeatures,
    configured_provenance,
    provenance_diff,
)
from framecache.fileio import atomic_path, file_sha256, write_csv, write_json
from framecache.video.decode import VideoSample, load_sample
from framecache.video.frames import Geometry
from framecache.video.sampling import Sampling

log = logging.getLogger("framecache.extract")

# Frames per forward pass when extract.batch_size is null. CPU: measured for efficientnet_lite0 at 224 px
# on the 2-core development machine (BENCHMARKS.md, "extract"): small batches keep activations in cache.
# CUDA: large enough to keep a GPU busy with AMP, small enough for any backbone here in a few GB.
DEFAULT_BATCH_SIZE = {"cpu": 4, "cuda": 128}
# Frames buffered in memory between journal checkpoints, at most (besides the time limit).
JOURNAL_MAX_ROWS = 32768
MANIFEST_COLUMNS = ("video_id", "path", "label", "label_index", "split", "group", "frames", "sha256")
FAILURE_COLUMNS = ("video_id", "path", "reason")


# --------------------------------------------------------------------------------------------------------
# Configuration from params


def sampling_from_params(extract: Mapping[str, Any]) -> Sampling:
    return Sampling.from_params(extract)


def expected_provenance(extract_params: Mapping[str, Any]) -> dict[str, Any]:
    """What a feature store must have been built with to be valid for these ``extract`` params.

    Needs the backbone's weights file (its checksum is part of the provenance); raises FramecacheError
    saying where to place it when it is missing.
    """
    name = extract_params["backbone"]
    spec = backbones.get_spec(name)
    return {
        **configured_provenance(extract_params),
        "weights_sha256": backbones.weights_sha256(name),
        "k": spec.k,
        "preprocessing": backbones.preprocessing_for(name, extract_params.get("image_size")).as_dict(),
    }


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise FramecacheError(
            "extract.device = 'cuda' but torch sees no CUDA device here; use 'auto' (GPU when present) or 'cpu'"
        )
    return torch.device(device)


def resolve_batch_size(batch_size: int | None, device: torch.device) -> int:
    return int(batch_size) if batch_size else DEFAULT_BATCH_SIZE.get(device.type, DEFAULT_BATCH_SIZE["cpu"])


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. CPU always runs fp32: bf16 is many times slower there."""
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _library_versions() -> dict[str, str]:
    import av
    import h5py
    import timm
    import torchvision

    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "av": av.__version__,
        "ffmpeg": str(getattr(av, "ffmpeg_version_info", "unknown")),
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "numpy": np.__version__,
    }


# --------------------------------------------------------------------------------------------------------
# Decoding (runs in DataLoader workers)


@dataclass(frozen=True)
class VideoJob:
    pos: int  # caller's key
    path: str


class _DecodeDataset(Dataset):
    """Item i: the decoded sample of video i, or the reason it failed. Never raises for a bad video."""

    def __init__(self, jobs: Sequence[VideoJob], sampling: Sampling, geometry: Geometry):
        self.jobs = list(jobs)
        self.sampling = sampling
        self.geometry = geometry

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        job = self.jobs[i]
        start = time.perf_counter()
        try:
            sample = load_sample(job.path, self.sampling, self.geometry)
        except VideoError as exc:
            return {"pos": job.pos, "error": exc.reason, "decode_seconds": time.perf_counter() - start}
        except Exception as exc:  # a decoder bug on one odd file must not stop a long extraction
            reason = f"unexpected {type(exc).__name__} while decoding: {exc}"
            return {"pos": job.pos, "error": reason, "decode_seconds": time.perf_counter() - start}
        return {
            "pos": job.pos,
            "error": None,
            # a tensor travels between processes through shared memory instead of being pickled
            "frames": torch.from_numpy(sample.frames),
            "sample": dataclasses.replace(sample, frames=np.zeros((0,), np.uint8)),
            "decode_seconds": time.perf_counter() - start,
        }


def _identity(item: Any) -> Any:
    return item


# --------------------------------------------------------------------------------------------------------
# The model side: fixed-shape batches across videos


@dataclass
class _Pending:
    item: dict[str, Any]
    out: np.ndarray | None = None  # (n_distinct, k) float32
    done: int = 0

    @property
    def rows(self) -> int:
        return 0 if self.item["error"] else len(self.item["frames"])

    @property
    def complete(self) -> bool:
        return self.done >= self.rows


class BatchRunner:
    """Runs a backbone on fixed-size uint8 frame batches; on CUDA one batch stays in flight."""

    def __init__(self, backbone: Backbone, batch_size: int, amp: torch.dtype | None):
        self.backbone = backbone
        self.batch_size = batch_size
        self.amp = amp
        self.device = backbone.device
        self.model_seconds = 0.0
        self._cuda = self.device.type == "cuda"
        if self._cuda:
            torch.backends.cudnn.benchmark = True  # every batch has the same shape: tune once, reuse
        self._staging: list[torch.Tensor] = []
        self._turn = 0

    def _stage(self, frames: torch.Tensor) -> torch.Tensor:
        if not self._cuda:
            return frames
        if not self._staging:
            # two pinned buffers: one can be filled while the other's copy to the GPU is in flight
            self._staging = [torch.empty(frames.shape, dtype=torch.uint8).pin_memory() for _ in range(2)]
        buf = self._staging[self._turn]
        self._turn ^= 1
        buf.copy_(frames)
        return buf.to(self.device, non_blocking=True)

    def launch(self, frames: torch.Tensor) -> torch.Tensor:
        """Start the forward pass of one full batch ``(B, H, W, 3)`` uint8; returns the features handle."""
        start = time.perf_counter()
        x = self._stage(frames)
        autocast = (
            torch.autocast(device_type="cuda", dtype=self.amp) if self.amp is not None else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            feats = self.backbone.model(self.backbone.normalize(x))
        out = feats.float()
        self.model_seconds += time.perf_counter() - start
        return out

    def collect(self, handle: torch.Tensor, n: int) -> np.ndarray:
        start = time.perf_counter()
        result = handle[:n].cpu().numpy()
        self.model_seconds += time.perf_counter() - start
        return result


def _batched_features(
    items: Iterable[dict[str, Any]], runner: BatchRunner
) -> Iterator[tuple[dict[str, Any], np.ndarray | None]]:
    """Yield (item, features of its distinct frames) in input order; frames from consecutive videos share
    batches. Failed items pass through with None."""
    bsz = runner.batch_size
    order: deque[_Pending] = deque()
    staged: deque[_Pending] = deque()  # videos with frames not yet in a batch
    staged_offset = 0  # rows of staged[0] already batched
    staged_rows = 0
    in_flight: tuple[torch.Tensor, list[tuple[_Pending, int, int]], int] | None = None
    k = runner.backbone.k

    def next_batch(final: bool) -> None:
        nonlocal staged_offset, staged_rows, in_flight
        parts, segments, rows = [], [], 0
        while staged and rows < bsz:
            job = staged[0]
            take = min(bsz - rows, job.rows - staged_offset)
            parts.append(job.item["frames"][staged_offset : staged_offset + take])
            segments.append((job, staged_offset, rows))
            rows += take
            staged_offset += take
            if staged_offset == job.rows:
                staged.popleft()
                staged_offset = 0
        staged_rows -= rows
        batch = torch.cat(parts) if len(parts) > 1 else parts[0]
        if rows < bsz:
            # pad: the same batch shape for every pass, so results never depend on batch composition
            pad = torch.zeros((bsz - rows, *batch.shape[1:]), dtype=batch.dtype)
            batch = torch.cat([batch, pad])
        handle = runner.launch(batch)
        previous, in_flight = in_flight, (handle, segments, rows)
        if previous is not None:
            finish(previous)
        if final:
            finish(in_flight)
            in_flight = None

    def finish(flight: tuple[torch.Tensor, list[tuple[_Pending, int, int]], int]) -> None:
        handle, segments, rows = flight
        feats = runner.collect(handle, rows)
        for idx, (job, job_lo, batch_lo) in enumerate(segments):
            batch_hi = segments[idx + 1][2] if idx + 1 < len(segments) else rows
            n = batch_hi - batch_lo
            if job.out is None:
                job.out = np.empty((job.rows, k), dtype=np.float32)
            job.out[job_lo : job_lo + n] = feats[batch_lo:batch_hi]
            job.done += n

    for item in items:
        pending = _Pending(item)
        order.append(pending)
        if pending.rows:
            staged.append(pending)
            staged_rows += pending.rows
        while staged_rows >= bsz:
            next_batch(final=False)
        while order and order[0].complete:
            done = order.popleft()
            yield done.item, done.out
    while staged_rows > 0:
        next_batch(final=staged_rows <= bsz)
    if in_flight is not None:
        finish(in_flight)
    while order:
        done = order.popleft()
        yield done.item, done.out


@dataclass
class ExtractStats:
    videos: int = 0
    frames: int = 0
    decode_seconds: float = 0.0
    model_seconds: float = 0.0
    loader_wait_seconds: float = 0.0
    wall_seconds: float = 0.0


def extract_samples(
    jobs: Sequence[VideoJob],
    build: Callable[[], Backbone],
    preprocessing: Preprocessing,
    sampling: Sampling,
    *,
    batch_size: int,
    amp: torch.dtype | None,
    num_workers: int,
    progress: bool = False,
    stats: ExtractStats | None = None,
) -> Iterator[tuple[VideoJob, VideoSample | None, np.ndarray | None, str | None]]:
    """Decode and embed ``jobs``; yields (job, sample without pixels, (T, k) float32 features, failure)
    in job order.

    ``build`` returns the backbone; it is called once the decoding workers are started, so they fork before
    CUDA is initialised and decode while the model loads.
    """
    stats = stats if stats is not None else ExtractStats()
    dataset = _DecodeDataset(jobs, sampling, preprocessing.geometry())
    workers = min(num_workers, len(jobs))
    loader = DataLoader(
        dataset,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        collate_fn=_identity,
        prefetch_factor=4 if workers else None,
    )
    start = time.perf_counter()
    it = iter(loader)  # forks the workers: before CUDA is touched by building the model
    backbone = build()
    runner = BatchRunner(backbone, batch_size, amp)
    by_pos = {job.pos: job for job in jobs}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="video", desc=f"extract {backbone.name}", mininterval=1.0)

    def timed(source: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        while True:
            t = time.perf_counter()
            try:
                item = next(source)
            except StopIteration:
                return
            stats.loader_wait_seconds += time.perf_counter() - t
            stats.decode_seconds += item["decode_seconds"]
            yield item

    try:
        for item, feats in _batched_features(timed(it), runner):
            job = by_pos[item["pos"]]
            stats.videos += 1
            if item["error"]:
                yield job, None, None, item["error"]
            else:
                sample: VideoSample = item["sample"]
                stats.frames += len(feats)  # type: ignore[arg-type]
                yield job, sample, feats[sample.rows], None  # type: ignore[index]
            if bar is not None:
                bar.update(1)
                elapsed = time.perf_counter() - start
                bar.set_postfix_str(f"{stats.frames / max(elapsed, 1e-9):.1f} frames/s", refresh=False)
    finally:
        if bar is not None:
            bar.close()
        stats.model_seconds += runner.model_seconds
        stats.wall_seconds += time.perf_counter() - start
        del it


# --------------------------------------------------------------------------------------------------------
# The stage


def _journal_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.journal"


def _remove_stray_temps(out: Path) -> None:
    # Temporary stores of runs that were killed (atomic_path names them .<name>.tmp-*): ours, never the user's.
    for stray in out.parent.glob(f".{out.name}.tmp-*"):
        with contextlib.suppress(OSError):
            stray.unlink()


@dataclass
class _Source:
    store: FeatureStore
    where: str


def _open_sources(out: Path, expect: Mapping[str, Any]) -> list[_Source]:
    """Earlier stores whose features are valid for ``expect``: the previous store, then journal parts."""
    candidates = [out] if out.is_file() else []
    journal = _journal_dir(out)
    if journal.is_dir():
        candidates += sorted(p for p in journal.glob("part-*.h5"))
    sources = []
    for path in candidates:
        try:
            store = FeatureStore.open(path)
        except FramecacheError as exc:
            log.warning("not reusing %s: %s", path, exc)
            continue
        diffs = provenance_diff(store.provenance, expect)
        if diffs:
            log.info("not reusing %s (built with another configuration: %s)", path, "; ".join(diffs))
            store.close()
            continue
        sources.append(_Source(store, "journal" if path.parent == journal else "previous store"))
    return sources


class _Journal:
    """Checkpoints of freshly computed videos, each part a complete little store written atomically."""

    def __init__(
        self,
        out: Path,
        provenance: Mapping[str, Any],
        classes: Sequence[str],
        every: float,
        attrs,
        prefix: str = "part-",
    ):
        self.dir = _journal_dir(out)
        self.prefix = prefix  # ranks of a torchrun job each number their own parts
        self.provenance = dict(provenance)
        self.classes = list(classes)
        self.every = every
        self.attrs = attrs
        self.buffer: list[VideoFeatures] = []
        self.rows = 0
        self.last = time.monotonic()
        numbers = (p.stem[len(prefix) :] for p in self.dir.glob(f"{prefix}*.h5"))
        existing = [int(n) for n in numbers if n.isdigit()]
        self.next = max(existing, default=0) + 1
        self.parts: list[Path] = []

    def add(self, video: VideoFeatures) -> None:
        self.buffer.append(video)
        self.rows += len(video.features)
        if self.rows >= JOURNAL_MAX_ROWS or time.monotonic() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{self.prefix}{self.next:06d}.h5"
        with (
            atomic_path(path) as tmp,
            StoreWriter(tmp, self.provenance, self.classes, compression="none", extra_attrs=self.attrs) as writer,
        ):
            for video in self.buffer:
                writer.append(video)
        self.parts.append(path)
        self.next += 1
        self.buffer, self.rows = [], 0
        self.last = time.monotonic()


def _read_manifest(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise FramecacheError(f"manifest {path} not found: run `dvc repro prepare` first")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise FramecacheError(f"manifest {path} cannot be read as CSV: {exc}") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise FramecacheError(
            f"manifest {path} lacks column(s) {', '.join(missing)}; expected at least {', '.join(MANIFEST_COLUMNS)}"
        )
    if df["video_id"].duplicated().any():
        dup = df.loc[df["video_id"].duplicated(), "video_id"].iloc[0]
        raise FramecacheError(f"manifest {path}: video_id {dup!r} appears more than once")
    return df


def _read_classes(path: Path) -> list[str]:
    if not path.is_file():
        raise FramecacheError(f"classes file {path} not found: run `dvc repro prepare` first")
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_extract(
    extract: Mapping[str, Any],
    manifest: str | Path,
    classes: str | Path,
    out: str | Path,
    failures: str | Path,
    metrics: str | Path,
    *,
    progress: bool = True,
    dist: distributed.Context = distributed.SINGLE,
) -> dict[str, Any]:
    """The extract stage: manifest → feature store + failures CSV + metrics JSON. Returns the metrics.

    Raises FramecacheError (after writing every output) when the failure rate is above the threshold.

    In a torchrun job (``dist``, every rank calls this): rank 0 decides which videos are left to compute,
    every rank extracts its shard (:func:`framecache.features.distributed.shard`) into its own journal parts, and rank 0
    assembles the store from all parts, writes every output and returns the metrics; the other ranks write
    nothing else and return their own counts.
    """
    wall = time.perf_counter()
    manifest, classes, out = Path(manifest), Path(classes), Path(out)
    df = _read_manifest(manifest)
    class_names = _read_classes(classes)
    expect = expected_provenance(extract)
    sampling = sampling_from_params(extract)
    device = distributed.rank_device(resolve_device(extract["device"]), dist)
    batch_size = resolve_batch_size(extract["batch_size"], device)
    threads = distributed.cpu_threads(extract.get("cpu_threads"), dist) if device.type == "cpu" else None
    amp = resolve_amp(extract["amp"], device)
    precision = "fp32" if amp is None else str(amp).removeprefix("torch.")
    attrs = {
        "libraries": _library_versions(),
        "compute": {"device": device.type, "precision": precision, "batch_size": batch_size, "fold_bn": True},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    shas: list[str] = []
    to_compute: list[VideoJob] = []
    if dist.is_main:
        _remove_stray_temps(out)
        # content hashes decide reuse; a manifest row without one is hashed here
        shas = [row.sha256 or _safe_sha(row.path) for row in df.itertuples()]
        sources = _open_sources(out, expect)
        reusable: dict[str, tuple[FeatureStore, int]] = {}
        for source in sources:
            sha_column = source.store.column("sha256")
            for i, sha in enumerate(sha_column):
                if sha:
                    reusable[sha] = (source.store, i)  # journal parts come last: the freshest wins
        seen: set[str] = set()
        for pos, sha in enumerate(shas):
            if sha and (sha in reusable or sha in seen):
                continue
            if sha:
                seen.add(sha)
            to_compute.append(VideoJob(pos=pos, path=df["path"].iat[pos]))
        for source in sources:
            source.store.close()
    # One rank decides what is left: other ranks' parts appearing meanwhile cannot make the shards disagree.
    shas, to_compute = dist.broadcast((shas, to_compute))
    n_reused = len(df) - len(to_compute)
    mine = to_compute
    if dist.distributed:
        keys = [shas[job.pos] or df["video_id"].iat[job.pos] for job in to_compute]
        weights = [_frame_count(df["frames"].iat[job.pos]) for job in to_compute]
        mine = [to_compute[i] for i in distributed.shard(keys, weights, dist.world_size)[dist.rank]]
        log.info(
            "rank %d of %d: %d of the %d videos to extract", dist.rank, dist.world_size, len(mine), len(to_compute)
        )
    if dist.is_main:
        log.info(
            "%d videos: %d reused from earlier stores, %d to extract on %s (batch %d, %s)",
            len(df),
            n_reused,
            len(to_compute),
            device,
            batch_size,
            precision,
        )

    journal = _Journal(out, expect, class_names, float(extract["checkpoint_seconds"]), attrs, prefix=dist.part_prefix)
    failed: dict[int, str] = {}
    stats = ExtractStats()
    if mine:
        image_size = extract.get("image_size")

        def build() -> Backbone:
            return backbones.build_backbone(extract["backbone"], device=device, image_size=image_size)

        with distributed.torch_threads(threads):
            for job, sample, feats, error in extract_samples(
                mine,
                build,
                backbones.preprocessing_for(extract["backbone"], image_size),
                sampling,
                batch_size=batch_size,
                amp=amp,
                num_workers=int(extract["num_workers"]),
                progress=progress and dist.is_main,
                stats=stats,
            ):
                if error is not None:
                    failed[job.pos] = error
                    continue
                video = _video_record(df, job.pos, shas[job.pos], sample, feats, expect["dtype"])  # type: ignore[arg-type]
                journal.add(video)
        journal.flush()

    # Every rank's parts are complete files once it gets here; rank 0 alone goes on to write the outputs.
    own = _rank_report(dist, device, threads, len(mine), failed, stats)
    reports = dist.gather(own)
    if reports is None:
        return _rank_metrics(own)
    failed = {pos: reason for report in reports for pos, reason in report["failed"].items()}
    stats = ExtractStats(
        videos=sum(r["stats"]["videos"] for r in reports),
        frames=sum(r["stats"]["frames"] for r in reports),
        decode_seconds=sum(r["stats"]["decode_seconds"] for r in reports),
        model_seconds=sum(r["stats"]["model_seconds"] for r in reports),
        loader_wait_seconds=sum(r["stats"]["loader_wait_seconds"] for r in reports),
        wall_seconds=max(r["stats"]["wall_seconds"] for r in reports),  # the ranks run side by side
    )

    # assemble the new store from the previous store and the journal, in manifest order
    sources = _open_sources(out, expect)
    try:
        by_sha: dict[str, tuple[FeatureStore, int]] = {}
        for source in sources:
            for i, sha in enumerate(source.store.column("sha256")):
                by_sha[sha] = (source.store, i)
        # duplicates of a failed video's content failed too
        failed_shas = {shas[pos]: reason for pos, reason in failed.items() if shas[pos]}
        stored_frames = 0
        policies: dict[str, int] = {}
        truncated = 0
        try:
            with (
                atomic_path(out) as tmp,
                StoreWriter(tmp, expect, class_names, compression=extract["compression"], extra_attrs=attrs) as writer,
            ):
                for pos, row in enumerate(df.itertuples()):
                    if pos in failed:
                        continue
                    sha = shas[pos]
                    if sha in failed_shas:
                        failed[pos] = failed_shas[sha]
                        continue
                    if sha in by_sha:
                        store, i = by_sha[sha]
                        video = store.record(i)
                    else:  # pragma: no cover - every computed video went through the journal
                        raise AssertionError(f"video {row.video_id} has no features after extraction")
                    video = _with_manifest_row(video, df, pos, sha)
                    writer.append(video)
                    stored_frames += len(video.features)
                    policies[video.policy] = policies.get(video.policy, 0) + 1
                    truncated += int(video.frames_usable < video.frames)
        except OSError as exc:
            raise FramecacheError(
                f"could not write feature store {out}: {exc}. The previous store (if any) is untouched; free "
                "disk space and re-run `dvc repro extract` (computed features are kept in "
                f"{_journal_dir(out)} and will be reused)"
            ) from exc
    finally:
        for source in sources:
            source.store.close()

    failure_rows = [
        {"video_id": df["video_id"].iat[pos], "path": df["path"].iat[pos], "reason": failed[pos]}
        for pos in sorted(failed)
    ]
    write_csv(failures, failure_rows, FAILURE_COLUMNS)
    _clear_journal(out)

    n = len(df)
    result = {
        "videos": n,
        "videos_stored": n - len(failed),
        "videos_computed": len(to_compute),
        "videos_reused": n_reused,
        "failures": len(failed),
        "failure_rate": len(failed) / n if n else 0.0,
        "frames": stored_frames,
        "frames_computed": stats.frames,
        "frames_per_second": stats.frames / stats.wall_seconds if stats.wall_seconds > 0 else 0.0,
        "decode_seconds": round(stats.decode_seconds, 3),
        "model_seconds": round(stats.model_seconds, 3),
        "loader_wait_seconds": round(stats.loader_wait_seconds, 3),
        "extract_seconds": round(stats.wall_seconds, 3),
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "device": device.type,
        "precision": precision,
        "batch_size": batch_size,
        "num_workers": int(extract["num_workers"]),
        "backbone": extract["backbone"],
        "short_videos": policies.get("keep", 0) + policies.get("repeat", 0),
        "capped_videos": policies.get("capped", 0),
        "truncated_videos": truncated,
    }
    if dist.distributed:
        result["processes"] = dist.world_size
        result["per_rank"] = {f"rank{r['rank']}": _rank_metrics(r) for r in reports}
    write_json(metrics, result)
    log.info(
        "stored %d videos (%d frames) in %s; %d computed at %.1f frames/s, %d reused, %d failed",
        result["videos_stored"],
        stored_frames,
        out,
        len(to_compute),
        result["frames_per_second"],
        n_reused,
        len(failed),
    )
    if n and result["failure_rate"] > float(extract["max_failure_rate"]):
        raise FramecacheError(
            f"{len(failed)} of {n} videos ({result['failure_rate']:.1%}) could not be decoded, more than "
            f"extract.max_failure_rate = {extract['max_failure_rate']}; see {failures} for each video and why"
        )
    return result


def _rank_report(
    dist: distributed.Context,
    device: torch.device,
    threads: int | None,
    videos: int,
    failed: dict[int, str],
    stats: ExtractStats,
) -> dict[str, Any]:
    return {
        "rank": dist.rank,
        "host": socket.gethostname(),
        "device": str(device),
        "cpu_threads": threads if threads is not None else torch.get_num_threads(),
        "videos_computed": videos,
        "failures": len(failed),
        "frames_computed": stats.frames,
        "frames_per_second": stats.frames / stats.wall_seconds if stats.wall_seconds > 0 else 0.0,
        "extract_seconds": round(stats.wall_seconds, 3),
        "decode_seconds": round(stats.decode_seconds, 3),
        "model_seconds": round(stats.model_seconds, 3),
        "stats": dataclasses.asdict(stats),
        "failed": failed,
    }


def _rank_metrics(report: Mapping[str, Any]) -> dict[str, Any]:
    # what metrics.json shows per rank: the raw counters and failure reasons stay out (failures.csv has them)
    return {k: v for k, v in report.items() if k not in ("stats", "failed")}


def _frame_count(value: Any) -> int:
    """The manifest's frame count, or 0 when it has none (a file prepare could not probe)."""
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        return 0


def _safe_sha(path: str) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return ""  # unreadable: decoding will record why


def _video_record(df: Any, pos: int, sha: str, sample: VideoSample, feats: np.ndarray, dtype: str) -> VideoFeatures:
    return _with_manifest_row(
        VideoFeatures(
            video_id="",
            features=feats.astype(dtype),
            frame_index=sample.frame_index,
            timestamp=sample.timestamp,
            frames=sample.frames_total,
            frames_usable=sample.frames_usable,
            policy=sample.policy,
            note=sample.note,
        ),
        df,
        pos,
        sha,
    )


def _with_manifest_row(video: VideoFeatures, df: Any, pos: int, sha: str) -> VideoFeatures:
    label = df["label_index"].iat[pos]
    return dataclasses.replace(
        video,
        video_id=df["video_id"].iat[pos],
        path=df["path"].iat[pos],
        label=int(label) if str(label).strip() else -1,
        split=df["split"].iat[pos],
        group=df["group"].iat[pos],
        sha256=sha,
    )


def _clear_journal(out: Path) -> None:
    journal = _journal_dir(out)
    if not journal.is_dir():
        return
    for part in journal.iterdir():
        with contextlib.suppress(OSError):
            part.unlink()
    with contextlib.suppress(OSError):
        journal.rmdir()


# --------------------------------------------------------------------------------------------------------
# Predict: the same features for new videos


def features_for_videos(
    paths: Sequence[str | os.PathLike],
    provenance: Mapping[str, Any],
    device: str = "auto",
    *,
    batch_size: int | None = None,
    num_workers: int = 0,
) -> list[tuple[np.ndarray | None, str | None]]:
    """Features of new videos exactly as stage 1 stored them (same backbone weights, preprocessing,
    sampling, rounded through the store's dtype), for a store's ``provenance``.

    Returns one ``(features (T, k) float32, None)`` or ``(None, reason)`` per path, in order.
    """
    name = provenance["backbone"]
    local = backbones.weights_sha256(name)
    if local != provenance["weights_sha256"]:
        raise FramecacheError(
            f"backbone {name}: the local weights file {backbones.weights_path(name)} (sha256 {local[:12]}…) "
            f"is not the one the feature store was built with (sha256 {str(provenance['weights_sha256'])[:12]}…); "
            "restore those weights or re-run `dvc repro extract`"
        )
    preprocessing = Preprocessing.from_dict(provenance["preprocessing"])
    sampling = Sampling.from_dict(provenance["sampling"])
    dtype = np.dtype(provenance["dtype"])
    dev = resolve_device(device)
    backbone = backbones.build_backbone(name, device=dev, image_size=preprocessing.crop)
    if backbone.preprocessing != preprocessing:
        backbone = dataclasses.replace(backbone, preprocessing=preprocessing)
    if backbone.k != int(provenance["k"]):
        raise FramecacheError(f"backbone {name} gives k={backbone.k} features, the store has k={provenance['k']}")
    jobs = [VideoJob(pos=i, path=str(p)) for i, p in enumerate(paths)]
    results: list[tuple[np.ndarray | None, str | None]] = [(None, "not processed")] * len(jobs)
    for job, _sample, feats, error in extract_samples(
        jobs,
        lambda: backbone,
        preprocessing,
        sampling,
        batch_size=resolve_batch_size(batch_size, dev),
        amp=resolve_amp("auto", dev),
        num_workers=num_workers,
    ):
        results[job.pos] = (None, error) if error else (feats.astype(dtype).astype(np.float32), None)  # type: ignore[union-attr]
    return results


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "BatchRunner",
    "expected_provenance",
    "extract_samples",
    "features_for_videos",
    "resolve_amp",
    "resolve_batch_size",
    "resolve_device",
    "run_extract",
    "sampling_from_params",
]
