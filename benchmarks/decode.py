"""Benchmark of stage 1's decoding (issue 11): does the cost of T sampled frames follow what is kept, not the
clip's length?

    uv run python -m benchmarks.decode --write

For clips of 6, 60, 300 and 1800 s (320x240, 30 fps, H.264 I/P only, GOP 12 and 250, a noisy pan over a
photo at a UCF101-like bitrate) and T = 16 uniform samples, one decode process, one decoder thread:

- **seek**: this code (``load_sample``: keyframe-aware, framecache.video.seeking);
- **forward**: the previous code's algorithm — decode from the first frame to the last wanted one, skipping
  unwanted non-reference pictures (``load_sample(mode="forward")``; on I/P-only H.264 there are none);
- **full**: every frame decoded and dropped, no conversion: the decoder's own limit, and what the peers'
  tools (decode every frame to JPEG, then pick) pay at least.

Each load_sample run is split into the demux pass, decoding, and converting + resizing the kept frames
(``frame_to_rgb``). The sampled frames of seek and forward are checked to be identical on every clip.

Then the extract stage end to end (``python -m stages.extract`` as DVC runs it: one process, one single-thread
process per core as ``processes: auto`` runs a big run, and the latter with the previous default of 2 decode
workers each) on a set of long clips against the bare model, both as one process with torch's threads and as
one single-thread copy per core run side by side (the best arrangement on this CPU, issue 11 item 6), with the
run size from which several processes repay their start-up. Last, FFmpeg's decoder threads on a lone 1080p
clip, and the stage's loader giving the last videos the cores left to decoding (item 4).
Clips are cached under ``--out``; ``results.json`` holds the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what stages/extract.py sets

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.markdown import write_section  # noqa: E402
from framecache.video import decode, seeking  # noqa: E402
from framecache.video.frames import Geometry  # noqa: E402
from framecache.video.sampling import Sampling  # noqa: E402
from tests.builders import remux  # noqa: E402


def make_clip(path: Path, seconds: float, gop: int, args: argparse.Namespace, seed: int = 0, slices: int = 1) -> Path:
    """A camera-like clip: a slow pan over a photo plus sensor noise (8 noise fields cycled, so synthesis is
    cheap), H.264 with B-frames off and a fixed GOP (keyframes every ``gop`` frames, no scene cuts)."""
    if path.is_file():
        return path
    from PIL import Image
    from skimage import data

    w, h = args.width, args.height
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    src = np.asarray(Image.fromarray(photos[seed % 4]).resize((2 * w, 2 * h))).astype(np.int16)
    rng = np.random.default_rng(seed)
    noise = [rng.normal(0, args.noise, (h, w, 3)).astype(np.int16) for _ in range(8)]
    n = round(seconds * args.fps)
    tmp = path.with_suffix(".tmp" + path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0" + (f":slices={slices}" if slices > 1 else "")
    with av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=args.fps, options={"preset": "veryfast", "x264-params": params})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            t = i / max(n - 1, 1)  # the pan crosses the photo once, whatever the length
            x, y = int(t * (w - 1)), int((0.5 + 0.5 * np.sin(7 * t)) * (h - 1))
            frame = np.clip(src[y : y + h, x : x + w] + noise[i % 8], 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(path)
    return path


class Timed:
    """Wraps the index pass (demux, or the MP4 sample table) and frame_to_rgb where load_sample calls them,
    summing their seconds."""

    def __init__(self) -> None:
        self.seconds = {"demux": 0.0, "convert": 0.0}
        self.originals = {(decode, "demux"): decode.demux, (decode, "indexed"): decode.indexed}
        for module in (decode, seeking):
            self.originals[(module, "frame_to_rgb")] = module.frame_to_rgb

    def _wrap(self, fn, key):
        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds[key] += time.perf_counter() - t0

        return timed

    def __enter__(self) -> Timed:
        for (module, name), fn in self.originals.items():
            setattr(module, name, self._wrap(fn, "convert" if name == "frame_to_rgb" else "demux"))
        return self

    def __exit__(self, *exc) -> None:
        for (module, name), fn in self.originals.items():
            setattr(module, name, fn)


def time_load(path: Path, mode: str, sampling: Sampling, geometry: Geometry, reps: int) -> tuple[dict, object]:
    runs = []
    for _ in range(reps):
        with Timed() as timed:
            t0 = time.perf_counter()
            sample = decode.load_sample(path, sampling, geometry, mode=mode)
            total = time.perf_counter() - t0
        runs.append({"total": total, **timed.seconds, "decode": total - sum(timed.seconds.values())})
    best = min(runs, key=lambda r: r["total"])  # the least disturbed run on a shared machine
    return best | {"runs": [r["total"] for r in runs], "decoding": sample.decoding}, sample


def full_decode(path: Path) -> dict:
    t0 = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        frames = sum(1 for _ in container.decode(stream))
    seconds = time.perf_counter() - t0
    return {"total": seconds, "frames": frames, "frames_per_second": frames / seconds}


def decode_table(args: argparse.Namespace, geometry: Geometry) -> list[dict]:
    sampling = Sampling(num_frames=args.num_frames)
    rows = []
    for gop in args.gops:
        for seconds in args.durations:
            path = make_clip(args.out / "clips" / f"{seconds:g}s-gop{gop}.mp4", seconds, gop, args)
            reps = 5 if seconds <= 60 else 3 if seconds <= 300 else 1
            seek, a = time_load(path, "seek", sampling, geometry, reps)
            forward, b = time_load(path, "forward", sampling, geometry, reps)
            if not (np.array_equal(a.frames, b.frames) and np.array_equal(a.frame_index, b.frame_index)):
                raise AssertionError(f"{path}: seek and forward decoding disagree")
            full = full_decode(path) if seconds <= args.full_up_to else None
            row = {"seconds": seconds, "gop": gop, "frames": int(a.frames_total), "seek": seek, "forward": forward}
            row["full"] = full
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items()}, default=str), flush=True)
    return rows


def seek_with_threads(path: Path, wanted, thread_type: str, count: int) -> float:
    """Seconds to seek-decode the wanted frames (no conversion) with FFmpeg's ``thread_type`` x ``count``."""
    from framecache.video.container import demux

    index = seeking.keyframe_index(demux(path))
    t0 = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type, stream.thread_count = thread_type, count
        frames = container.decode(stream)
        for key, run in seeking.plan_seeks(index, wanted):
            if key is not None:
                container.seek(key, stream=stream, backward=True)
                frames = container.decode(stream)
            goal = int(index.ticks[run[-1]])
            next(f for f in frames if f.pts >= goal)
    return time.perf_counter() - t0


def tail_study(args: argparse.Namespace, path: Path) -> list[dict]:
    """Item 4 as the stage does it: the stage's own loader (2 decode workers) over 1 or 3 copies of a 1080p clip,
    with the machine's cores left to decoding (so the last videos get FFmpeg threads) or none (one thread each),
    as on a GPU host where the model leaves the CPU to the decoders. Seconds until every sample is decoded."""
    from framecache.backbones.specs import preprocessing_for
    from framecache.features.batching import VideoJob
    from framecache.features.embed import decode_source
    from framecache.video.decoders import CpuDecoder

    decoder = CpuDecoder(Sampling(num_frames=args.num_frames), preprocessing_for("efficientnet_lite0").geometry())
    cores, rows = os.cpu_count() or 1, []
    for videos in (1, 3):
        jobs = [VideoJob(pos=i, path=str(path)) for i in range(videos)]
        for decode_cores in (0, cores):
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                source, release, stop = decode_source(jobs, decoder, 2, decode_cores)
                errors = []
                for item in source:
                    errors.append(item.error)
                    release(item)
                stop()
                runs.append(time.perf_counter() - t0)
                assert not any(errors)
            rows.append({"videos": videos, "decode_cores": decode_cores, "seconds": min(runs), "runs": runs})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def thread_study(args: argparse.Namespace) -> list[dict]:
    """Issue 11 item 4: one long high-resolution video, FFmpeg's frame or slice threads against one thread."""
    from framecache.video.sampling import uniform_indices

    hd = argparse.Namespace(**(vars(args) | {"width": 1920, "height": 1080}))
    rows = []
    for slices in (1, 4):
        path = make_clip(args.out / "clips" / f"1080p-12s-gop60-{slices}slices.mp4", 12, 60, hd, slices=slices)
        wanted = uniform_indices(12 * args.fps, args.num_frames)
        for thread_type, count in (("SLICE", 1), ("FRAME", 2), ("SLICE", 2), ("AUTO", 2)):
            runs = [seek_with_threads(path, wanted, thread_type, count) for _ in range(3)]
            rows.append({"slices": slices, "threads": f"{thread_type} x{count}", "seconds": min(runs), "runs": runs})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def bare_only(threads: int, batch: int, frames: int) -> float:
    import torch

    from benchmarks.extract import bare_model
    from framecache.backbones import build

    torch.set_num_threads(threads)
    bb = build.build_backbone("efficientnet_lite0", device=torch.device("cpu"))
    return bare_model(bb, batch, frames)


def bare_copies(copies: int, threads: int, batch: int, frames: int) -> float:
    """frames/s of ``copies`` bare-model processes with ``threads`` threads each, run side by side (summed);
    each times only its own forward passes, after building its model."""
    cmd = [sys.executable, "-m", "benchmarks.decode", "--bare-only", f"{threads},{batch},{frames}"]
    procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    return sum(float(p.communicate()[0].strip().splitlines()[-1]) for p in procs)


def tagged_copy(src: Path, dst: Path, tag: str) -> Path:
    """The same packets in a file whose metadata differs (a different content hash): the stage reuses features
    of identical files within a run, so each copy of a clip must be its own file to be extracted."""
    return dst if dst.is_file() else remux(src, dst, metadata={"comment": tag})


def repeated_manifest(folder: Path, clips: list[Path], repeats: int) -> tuple[Path, Path]:
    """The prepare stage's manifest over ``repeats`` byte-distinct copies of every clip: enough frames per run
    to measure throughput at little encoding cost."""
    from benchmarks.extract import write_manifest

    copies = [
        tagged_copy(c, c.with_name(f"{c.stem}-copy{r}{c.suffix}"), f"copy {r}") for c in clips for r in range(repeats)
    ]
    return write_manifest(folder, copies)


def extract_vs_model(args: argparse.Namespace) -> dict:
    """The extract stage as DVC runs it (``python -m stages.extract``, a fresh process per run) on
    ``--extract-clips`` long clips per GOP, with ``extract.processes: 1`` (the previous default) and ``auto``
    (the default: here one single-thread process per core under torchrun), between runs of the bare model in
    both arrangements, interleaved so that load from elsewhere hits them alike."""
    from benchmarks.distributed import run_stage
    from framecache.compute import resolve_device
    from framecache.config.params import load_params
    from framecache.features import embed, launch

    extract = load_params(REPO / "params.yaml").to_dict()["extract"]
    extract |= {"num_frames": args.num_frames, "sampling": "uniform"}
    batch = embed.resolve_batch_size(extract["batch_size"], resolve_device(extract["device"], "extract.device"))
    manifests = {}
    for gop in args.gops:
        seeds = [i * len(args.gops) + args.gops.index(gop) for i in range(args.extract_clips)]
        name = f"{args.extract_seconds:g}s-gop{gop}-seed{{}}.mp4"
        clips = [make_clip(args.out / "clips" / name.format(k), args.extract_seconds, gop, args, k) for k in seeds]
        manifests[gop] = repeated_manifest(args.out / f"prepared-gop{gop}", clips, args.extract_repeats)
    frames = args.extract_clips * args.extract_repeats * args.num_frames
    cores = os.cpu_count() or 1
    # num_workers auto: 1 beside one threaded process, 0 (decoding inline) beside single-thread processes;
    # the other rows try the other choices (2 workers per process was the previous default)
    arrangements = {
        "1": {"processes": 1},
        "1, inline": {"processes": 1, "num_workers": 0},
        "1, 2 workers": {"processes": 1, "num_workers": 2},
        str(cores): {"processes": cores},
        f"{cores}, 2 workers": {"processes": cores, "num_workers": 2},
    }
    one, copies = [], []
    stage: dict[str, dict[str, list[dict]]] = {str(g): {a: [] for a in arrangements} for g in args.gops}
    for r in range(args.rounds):
        one.append(bare_copies(1, cores, batch, args.bare_frames))
        copies.append(bare_copies(cores, 1, batch, args.bare_frames))
        for gop, (manifest, classes) in manifests.items():
            for name, setting in arrangements.items():
                overrides = {"num_frames": args.num_frames, "sampling": "uniform", **setting}
                m = run_stage(args.out / "runs", manifest, classes, f"gop{gop}-{name}-r{r}", overrides)
                keys = ("frames_computed", "frames_per_second", "command_seconds", "processes", "num_workers")
                keys += ("decode_seconds", "model_seconds")
                stage[str(gop)][name].append({k: m[k] for k in keys} | {"ranks": m.get("per_rank", {})})
        print(f"bare: 1 process {one[-1]:.1f}, {cores} copies {copies[-1]:.1f}; stage", stage, flush=True)
    return {
        "clips": args.extract_clips,
        "repeats": args.extract_repeats,
        "clip_seconds": args.extract_seconds,
        "frames": frames,
        "auto_min_frames": launch.AUTO_MIN_FRAMES,
        "auto_processes": launch.auto_processes(extract, frames)[0],
        "bare_frames": args.bare_frames,
        "batch": batch,
        "num_workers": extract["num_workers"],
        "bare_one_process": one,
        "bare_copies": copies,
        "stage_runs": stage,
    }


def _runs(xs: list[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in xs)


def _ms(x: float) -> str:
    return f"{1000 * x:,.0f}"


def _goals(rows: list[dict]) -> list[str]:
    lines = []
    for gop in sorted({r["gop"] for r in rows}):
        by = {r["seconds"]: r for r in rows if r["gop"] == gop}
        if 60 in by and 300 in by:
            q = by[300]["seek"]["total"] / by[60]["seek"]["total"]
            old = by[300]["forward"]["total"] / by[60]["forward"]["total"]
            verdict = "met" if q <= 1.5 else f"missed by {q / 1.5 - 1:.0%}"
            lines.append(
                f"- GOP {gop}: a 300 s clip costs **{q:.2f}x** a 60 s one (forward: {old:.2f}x); "
                f"goal ≤ 1.5x: **{verdict}**."
            )
        if 6 in by:
            q = by[6]["seek"]["total"] / by[6]["forward"]["total"]
            verdict = "met" if q <= 1.1 else f"missed by {q / 1.1 - 1:.0%}"
            lines.append(
                f"- GOP {gop}: a 6 s clip takes **{q:.2f}x** the forward decoder's time; goal ≤ 1.1x: **{verdict}**."
            )
    return lines


def _command_fps(run: dict) -> float:
    return run["frames_computed"] / run["command_seconds"]


def _start_up(run: dict) -> float:
    """Seconds of the command outside the extraction phase: interpreters, torchrun, model build, assembly."""
    return run["command_seconds"] - run["frames_computed"] / run["frames_per_second"]


def break_even(by_setting: dict[str, list[dict]], one: str, many: str) -> float | None:
    """Listed frames above which ``many`` processes finish the command sooner than ``one``: their start-up
    difference over the difference of seconds per frame (None when ``many`` is not faster per frame)."""

    def medians(runs: list[dict]) -> tuple[float, float]:
        return float(np.median([x["frames_per_second"] for x in runs])), float(np.median([_start_up(x) for x in runs]))

    (f1, s1), (f2, s2) = medians(by_setting[one]), medians(by_setting[many])
    if f2 <= f1:
        return None
    return max(0.0, float(s2 - s1) / (1 / f1 - 1 / f2))


def _verdicts(v: float, best: float, goals: list[tuple[str, float]]) -> str:
    return "; ".join(
        f"{what} **{v / best:.2f}** (goal ≥ {goal}: **"
        + ("met" if v / best >= goal else f"missed by {1 - v / best / goal:.0%}")
        + "**)"
        for what, goal in goals
    )


def _extract_lines(e: dict, rows: list[dict]) -> list[str]:
    from framecache.features.launch import AUTO_MIN_FRAMES

    one, copies = float(np.median(e["bare_one_process"])), float(np.median(e["bare_copies"]))
    best, cores = max(one, copies), str(e["cpus"])
    out = [
        f"Extract end to end on {e['clips']} clips of {e['clip_seconds']:g} s per GOP, each in "
        f"{e['repeats']} byte-distinct copies ({e['clips'] * e['repeats']} videos, {e['frames']:,} frames per run), "
        f"batch {e['batch']}, `extract.num_workers: {e['num_workers']}` unless the row says otherwise. Each stage "
        "run is `python -m stages.extract` in a fresh process, as DVC runs it: *command* frames/s divide the "
        "frames by the whole command's wall time (interpreter, torchrun and torch start-up, model build, store "
        "assembly included; *start-up* is that time less the extraction phase); *extraction* frames/s are the "
        "stage's own `frames_per_second` (the extraction phase, after the model is built). The bare model runs "
        f"{e['bare_frames']:,} frames per copy and round (the stage's preprocessed input, fp32 channels_last). "
        f"Medians of {len(e['bare_copies'])} rounds, each measuring the bare model both ways and then every stage "
        "run:",
        "",
        "| measurement | processes | decode workers each | frames/s (command) | frames/s (extraction) | start-up s "
        "| runs (command frames/s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| bare model, 1 process, torch's threads | 1 | | | {one:.1f} | | {_runs(e['bare_one_process'])} |",
        f"| bare model, a single-thread copy per core side by side | {cores} | | | {copies:.1f} | | "
        f"{_runs(e['bare_copies'])} |",
    ]
    lines = []
    for gop, by_setting in e["stage_runs"].items():
        per_frame = [x["seek"]["total"] / 16 for x in rows if x["seconds"] >= 60 and str(x["gop"]) == gop]
        share = float(np.median(per_frame)) / (e["cpus"] / best)
        for name, runs in by_setting.items():
            cmd = float(np.median([_command_fps(x) for x in runs]))
            ext = float(np.median([x["frames_per_second"] for x in runs]))
            start = float(np.median([_start_up(x) for x in runs]))
            out.append(
                f"| extract stage, GOP {gop}, `processes: {name.split(',')[0]}` | {runs[0]['processes']} | "
                f"{runs[0]['num_workers']} | {cmd:.1f} | {ext:.1f} | {start:.1f} | "
                f"{_runs([_command_fps(x) for x in runs])} |"
            )
            if name == cores:
                said = _verdicts(cmd, best, [("command", 0.8)])
                said += "; " + _verdicts(ext, best, [("extraction", 0.8), ("extraction", 0.9)])
                model, decoding = (
                    1000 * float(np.median([x[k] / x["frames_computed"] for x in runs]))
                    for k in ("model_seconds", "decode_seconds")
                )
                lines.append(
                    f"- GOP {gop}, {cores} single-thread processes decoding inline (what `auto` runs on a big "
                    f"run): stage / best bare model = {said}. CPU per frame inside the stage: model "
                    f"{model:.1f} ms, decoding {decoding:.1f} ms, against {_ms(e['cpus'] / best)} ms for the bare "
                    f"model (cores / best bare frames/s). From the decode table (clips ≥ 60 s), decoding costs "
                    f"{_ms(float(np.median(per_frame)))} ms per frame, **{share:.0%}** of the bare model's: on CPU, "
                    f"where decoding shares the model's cores, the stage can reach at most about "
                    f"{1 / (1 + share):.2f} of the bare model."
                )
        even = break_even(by_setting, "1", cores)
        lines.append(
            f"- GOP {gop}: "
            + (
                f"{cores} processes finish the command sooner than one from about **{even:,.0f}** listed frames "
                "(their extra start-up over the seconds per frame they save)"
                if even
                else f"{cores} processes started up no slower than one in this run: start-up gave no reason to "
                "keep one process"
                if even is not None
                else f"{cores} processes extracted no faster than one (decoding, not the model, bounds this run)"
            )
            + f". When this ran, `auto` started them from {e['auto_min_frames']:,} listed frames (so this "
            f"{e['frames']:,}-frame run got {e['auto_processes']}); "
            + ("still so." if e["auto_min_frames"] == AUTO_MIN_FRAMES else f"now from {AUTO_MIN_FRAMES:,}.")
        )
    lines.append(
        "- Why the stage falls short of the bare model on CPU: decoding runs on the same cores as the model "
        "(the share above), and the command adds start-up (interpreters, torch and timm imports, the model "
        "build, torchrun for several processes). The bare model itself moved by "
        f"{max(e['bare_copies']) / min(e['bare_copies']) - 1:.0%} between rounds (two copies) on this shared "
        "machine, so read the ratios to ±0.1. The decode workers `auto` picks are the fastest of the rows: none beside "
        "single-thread processes, one beside a threaded model (inline decoding leaves that model's second "
        "thread idle while it decodes; 2 workers oversubscribe the cores)."
    )
    return [*out, "", *lines]


def _thread_lines(rows: list[dict]) -> list[str]:
    kinds = [r["threads"] for r in rows if r["slices"] == 1]
    out = [
        "FFmpeg's decoder threads for one long high-resolution video (issue 11 item 4): a 12 s 1080p clip, GOP 60, "
        "16 samples seek-decoded (no conversion), best of 3, seconds:",
        "",
        "| slices per frame | " + " | ".join(kinds) + " |",
        "| ---: |" + " ---: |" * len(kinds),
    ]
    for slices in sorted({r["slices"] for r in rows}):
        out.append(f"| {slices} | " + " | ".join(f"{r['seconds']:.2f}" for r in rows if r["slices"] == slices) + " |")
    gain = max(
        next(r["seconds"] for r in rows if r["slices"] == s and r["threads"] == "SLICE x1")
        / min(r["seconds"] for r in rows if r["slices"] == s)
        for s in {r["slices"] for r in rows}
    )

    def best(threads: str) -> float:
        return max(
            next(r["seconds"] for r in rows if r["slices"] == s and r["threads"] == "SLICE x1")
            / next(r["seconds"] for r in rows if r["slices"] == s and r["threads"] == threads)
            for s in {r["slices"] for r in rows}
        )

    out += [
        "",
        f"- The best threaded setting is {gain:.2f}x as fast as one thread (SLICE x1); frame threads "
        f"{best('FRAME x2'):.2f}x at best, slice threads {best('SLICE x2'):.2f}x. The stage uses frame threads, "
        "which every decoder here (H.264, HEVC, VP9) supports however the stream was encoded; slice threads "
        "split a picture's slices (or rows, depending on the codec and the encoder), and which of the two wins "
        "on these x264 clips has varied between runs on this machine. Measured on a shared 2-core machine, "
        "with nothing else decoding.",
    ]
    return out


def _tail_lines(rows: list[dict]) -> list[str]:
    out = [
        "The stage's rule (`workers.decoder_threads`): the cores the model leaves to decoding are split between the "
        "videos still being decoded, one thread per worker while every worker is busy, more for the last videos. "
        "On CPU under `processes: auto` the model leaves none, so nothing changes there; on a GPU host it leaves "
        "all but one. Measured here with the stage's own loader (2 decode workers, no model, as on a GPU host) on "
        "copies of the 1080p clip, best of 3, seconds until every sample is decoded:",
        "",
        "| videos | one thread each | the machine's cores split between them | ratio |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for videos in sorted({r["videos"] for r in rows}):
        by = {r["decode_cores"] > 0: r["seconds"] for r in rows if r["videos"] == videos}
        out.append(f"| {videos} | {by[False]:.2f} | {by[True]:.2f} | {by[False] / by[True]:.2f}x |")
    return out


def render(res: dict) -> str:
    rows = res["decode"]
    cfg = res["config"]
    out = [
        "## Decoding (stage 1): sampled frames cost what is kept, not the clip's length",
        "",
        "Command: `uv run python -m benchmarks.decode --write` (raw numbers: `bench-out/decode/results.json`)",
        "",
        f"Clips: {cfg['width']}x{cfg['height']}, {cfg['fps']} fps, H.264 I/P only (x264 veryfast, no B-frames, "
        f"keyframes every GOP frames, no scene cuts), a noisy pan over a photo; T = {cfg['num_frames']} uniform "
        "samples resized and cropped for efficientnet_lite0; one process, one decoder thread. Times are the best "
        f"of 5 (≤ 60 s), 3 (300 s) or 1 (1800 s) runs, in ms. Machine: {res['machine']['cpus']} CPU cores, shared; "
        f"load average {res['machine']['load_average_at_start'][0]:.1f} at the start, "
        f"{res['machine']['load_average_at_end'][0]:.1f} at the end. *forward* is the previous code's algorithm "
        "(from the first frame to the last wanted one, unwanted non-reference pictures skipped), *full* the "
        "decoder alone on every frame.",
        "",
        "| GOP | clip | frames | seek (this code) | forward (previous code) | full decode, every frame "
        "| seek: index / decode / convert+resize | path |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        s, f, full = r["seek"], r["forward"], r["full"]
        split = f"{_ms(s['demux'])} / {_ms(s['decode'])} / {_ms(s['convert'])}"
        full_ms = _ms(full["total"]) if full else "-"
        out.append(
            f"| {r['gop']} | {r['seconds']:g} s | {r['frames']:,} | {_ms(s['total'])} | {_ms(f['total'])} "
            f"| {full_ms} | {split} | {s['decoding']} |"
        )
    out += ["", *_goals(rows)]
    share = [r["seek"]["decode"] / r["seek"]["total"] for r in rows]
    conv = [r["seek"]["convert"] / r["seek"]["total"] for r in rows]
    out.append(
        f"- Share of decode-worker time (seek): decoding {min(share):.0%}-{max(share):.0%}, converting and "
        f"resizing the kept frames {min(conv):.0%}-{max(conv):.0%}, the rest the index pass (the MP4 sample table "
        "here; a demux pass for streams with B-frames or other containers)."
    )
    out.append("- The sampled frames of seek and forward decoding were identical on every clip (checked by the run).")
    if "extract" in res:
        out += ["", *_extract_lines(res["extract"] | {"cpus": res["machine"]["cpus"]}, rows)]
    if "threads" in res:
        out += ["", *_thread_lines(res["threads"])]
    if "tail" in res:
        out += ["", *_tail_lines(res["tail"])]
    out += [
        "",
        "No GPU was available to this run: GPU figures (decode workers needed to keep a GPU busy) are not measured.",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--durations", type=float, nargs="+", default=[6, 60, 300, 1800])
    ap.add_argument("--gops", type=int, nargs="+", default=[12, 250])
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--noise", type=float, default=7.0)
    ap.add_argument("--num-frames", type=int, default=16)
    ap.add_argument("--full-up-to", type=float, default=1800, help="longest clip decoded in full")
    ap.add_argument("--extract-clips", type=int, default=12)
    ap.add_argument("--extract-seconds", type=float, default=120)
    ap.add_argument("--extract-repeats", type=int, default=24, help="times each clip is listed in the manifest")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--bare-frames", type=int, default=1024, help="frames per bare-model copy and round")
    ap.add_argument("--skip-extract", action="store_true")
    ap.add_argument("--only-extract", action="store_true", help="add the extract part to --out's results.json")
    ap.add_argument("--only-threads", action="store_true", help="add the decoder-threads part to results.json")
    ap.add_argument("--bare-only", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "decode")
    ap.add_argument("--write", action="store_true", help="put the results into BENCHMARKS.md (section decode)")
    ap.add_argument("--render", action="store_true", help="only render --out's results.json")
    args = ap.parse_args()
    if args.bare_only:
        print(bare_only(*(int(v) for v in args.bare_only.split(","))))
        return
    args.out = args.out.resolve()
    if not args.render:
        from framecache.backbones.specs import preprocessing_for

        geometry = preprocessing_for("efficientnet_lite0").geometry()
        saved = args.out / "results.json"
        if args.only_extract or args.only_threads:
            results = json.loads(saved.read_text())
        else:
            results = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}}
            results["config"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
            results["decode"] = decode_table(args, geometry)
            saved.write_text(json.dumps(results, indent=1, default=str))  # kept if the extract part fails
        if not args.skip_extract and not args.only_threads:
            results["extract"] = extract_vs_model(args)
        if not args.only_extract:
            results["threads"] = thread_study(args)
            results["tail"] = tail_study(args, args.out / "clips" / "1080p-12s-gop60-1slices.mp4")
        results["machine"]["load_average_at_end"] = os.getloadavg()
        saved.write_text(json.dumps(results, indent=1, default=str))
    text = render(json.loads((args.out / "results.json").read_text()))
    print(text)
    if args.write:
        write_section("decode", text)


if __name__ == "__main__":
    main()
