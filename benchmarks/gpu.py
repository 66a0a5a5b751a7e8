"""Stage 1 on a GPU host (issue 18), every measurement in one run of at most ~6 minutes; and its CPU proxy.

    python -m benchmarks.gpu --out OUT                  # a CUDA host: writes OUT/results.json
    uv run python -m benchmarks.gpu --render --out OUT --write   # then: its table into BENCHMARKS.md ("GPU")
    uv run python -m benchmarks.gpu --render --out NONE --write  # no run yet: the section says it awaits one
    uv run python -m benchmarks.gpu --cpu-smoke         # the same code paths on CPU, tiny (checks it runs)
    uv run python -m benchmarks.gpu --cpu-proxy --json  # the feeding goal on CPU (benchmarks/proxy.py)

On generated UCF101-like clips (10 s, 320x240, 30 fps, H.264 GOP 12; ``--clips`` of them, default 768) and a
long-clip set (120 s, GOP 250), with the default backbone and params (bf16 autocast on CUDA):

- the bare model: frames already on the GPU (resident), and through the stage's own batcher and pinned
  buffers from host memory (staged);
- the decoder's limit: ``load_sample`` alone in a Pool of 1, W/2 and W processes (W: what ``num_workers: auto``
  gives here, a worker per core but one);
- the stage (``python -m stages.extract``, a fresh process per run, as DVC runs it) at several
  ``num_workers``, its start-up and teardown apart (metrics.json's ``startup_seconds``/``teardown_seconds``);
- the same on the long clips;
- NVDEC (PyNvVideoCodec) where it is installed.

Parts run in order of importance; one that would not finish within ``--budget-seconds`` is skipped and says
so. The host this was made for (``../shared/gpu/README.md``) has Python 3.12, torch 2.11 and no DVC: the
stage runs directly with python; ``../shared/gpu/wheels.sh`` prepares the wheels it lacks (PyAV, pydantic).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what stages/extract.py sets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHORT = {"seconds": 10.0, "gop": 12}
LONG = {"seconds": 120.0, "gop": 250}
# seconds each part is expected to take on the 16-core H100 host: a part starts only if it fits the budget
COST = {"decode_limit": 25, "bare": 20, "stage": 25, "long": 60, "nvdec": 90}


class Budget:
    def __init__(self, seconds: float):
        self.start, self.seconds = time.perf_counter(), seconds
        self.skipped: list[str] = []

    def allows(self, part: str, cost: float) -> bool:
        left = self.seconds - (time.perf_counter() - self.start)
        if cost > left:
            self.skipped.append(f"{part} (needs ~{cost:.0f} s, {left:.0f} s left)")
            print(f"skipped: {self.skipped[-1]}", flush=True)
            return False
        return True


# ----------------------------------------------------------------------------------------------- clips
def _make(job: tuple[str, float, int, int, int, int]) -> str:
    from benchmarks.decode import make_clip

    path, seconds, gop, seed, width, height = job
    shape = argparse.Namespace(width=width, height=height, fps=30, noise=7.0)
    return str(make_clip(Path(path), seconds, gop, shape, seed=seed))


def _row(job: tuple[int, str]) -> dict[str, Any]:
    from framecache.fileio import file_sha256
    from framecache.video.probe import probe

    i, path = job
    return {
        "video_id": Path(path).name, "path": path, "label": f"c{i % 4}", "label_index": i % 4, "split": "train",
        "group": f"g{i}", **probe(path).as_dict(), "sha256": file_sha256(path),
    }  # fmt: skip


def clip_set(folder: Path, n: int, seconds: float, gop: int, size: tuple[int, int], procs: int) -> dict[str, Any]:
    """``n`` distinct clips (made once, in parallel) and the prepare stage's manifest over them."""
    import multiprocessing

    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(folder / f"{seconds:g}s-gop{gop}-{k:04d}.mp4"), seconds, gop, k, *size) for k in range(n)]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        paths = pool.map(_make, jobs, chunksize=1)
        rows = pool.map(_row, list(enumerate(paths)), chunksize=4)
    manifest = folder / "prepared" / "manifest.csv"
    manifest.parent.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(manifest, index=False)
    (manifest.parent / "classes.txt").write_text("c0\nc1\nc2\nc3\n")
    made = round(time.perf_counter() - start, 1)
    return {
        "paths": paths, "manifest": manifest, "classes": manifest.parent / "classes.txt", "n": n, "seconds": seconds,
        "gop": gop, "size": "x".join(map(str, size)), "make_seconds": made,
    }  # fmt: skip


# ----------------------------------------------------------------------------------------------- the model
def bare_model(extract: dict[str, Any], frames: int) -> dict[str, float]:
    """frames/s of normalise + forward (autocast as the stage) at the stage's batch size: on frames already on
    the device (resident), and fed from host memory through the stage's batcher (staged)."""
    import torch

    from framecache.backbones.build import build_backbone
    from framecache.compute import resolve_device
    from framecache.features.batching import BatchRunner, batched_features
    from framecache.features.embed import resolve_amp, resolve_batch_size

    device = resolve_device(extract["device"], "extract.device")
    batch, amp = resolve_batch_size(extract["batch_size"], device), resolve_amp(extract["amp"], device)
    start = time.perf_counter()
    backbone = build_backbone(extract["backbone"], device=device, image_size=extract.get("image_size"))
    built = time.perf_counter() - start
    runner = BatchRunner(backbone, batch, amp)
    runner.warm_up()
    crop = backbone.preprocessing.crop
    x = torch.randint(0, 255, (batch, crop, crop, 3), dtype=torch.uint8, device=device)
    n = max(2, frames // batch)
    autocast = (
        torch.autocast(device_type="cuda", dtype=amp) if amp is not None else torch.autocast("cpu", enabled=False)
    )
    with torch.inference_mode(), autocast:
        backbone.model(backbone.normalize(x))
        _sync(device)
        t = time.perf_counter()
        for _ in range(n):
            out = backbone.model(backbone.normalize(x))
        out.float().cpu()
        resident = n * batch / (time.perf_counter() - t)
    host = x.cpu()
    videos = [(i, host[:16]) for i in range(n * batch // 16)]
    t = time.perf_counter()
    for _ in batched_features(videos, runner):
        pass
    staged = len(videos) * 16 / (time.perf_counter() - t)
    return {"batch": batch, "precision": str(amp), "build_seconds": round(built, 2), "resident_fps": resident,
            "staged_fps": staged, "device": str(device)}  # fmt: skip


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------------------------- decoding
def decode_limits(paths: list[str], counts: list[int], extract: dict[str, Any]) -> list[dict[str, Any]]:
    """The decoder's limit (load_sample alone in a Pool) with each of ``counts`` processes; fewer processes
    decode a share of the clips (the same per process), so each run takes about as long."""
    from benchmarks.proxy import decode_limit
    from framecache.video.sampling import Sampling

    sampling, most = Sampling.from_params(extract), max(counts)
    rows = []
    for procs in counts:
        share = paths[: max(procs, len(paths) * procs // most)]
        rows.append({"processes": procs, "videos": len(share), **decode_limit(share, procs, sampling, extract)})
        print(f"decoder's limit, {procs} process(es): {rows[-1]['fps']:.0f} frames/s", flush=True)
    return rows


def stage_runs(clips: dict[str, Any], work: Path, workers: list[int | str], extract: dict[str, Any]) -> list[dict]:
    """The stage as DVC runs it, a fresh process per ``num_workers``; its metrics and the command's seconds."""
    from benchmarks.distributed import run_stage

    keys = ("frames_computed", "frames_per_second", "extract_seconds", "startup_seconds", "teardown_seconds",
            "model_build_seconds", "phases_seconds", "num_workers", "device", "precision", "batch_size")  # fmt: skip
    rows = []
    for w in workers:
        name = f"{clips['seconds']:g}s-w{w}"
        m = run_stage(work, clips["manifest"], clips["classes"], name, {**extract, "num_workers": w, "processes": 1})
        rows.append({"requested": w, "command_seconds": m["command_seconds"], **{k: m.get(k) for k in keys}})
        print(f"stage {name}: {m['frames_per_second']:.0f} frames/s, start-up {m.get('startup_seconds')} s, "
              f"teardown {m.get('teardown_seconds')} s, command {m['command_seconds']:.1f} s", flush=True)  # fmt: skip
    return rows


# ----------------------------------------------------------------------------------------------- the run
def measure(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from benchmarks.nvdec import nvdec_part
    from framecache.config.params import load_params
    from framecache.features import runner
    from framecache.features.distributed import SINGLE

    budget = Budget(args.budget_seconds)
    extract = load_params(REPO / "params.yaml").to_dict()["extract"] | args.extract
    settings = runner.resolve_compute(extract, SINGLE)
    cores, w = runner.available_cores(), settings.num_workers
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    machine = {"cpus": cores, "load_average_at_start": os.getloadavg(), "python": sys.version.split()[0]}
    res: dict[str, Any] = {
        "machine": machine | {"torch": torch.__version__, "gpu": gpu},
        "extract": {k: extract[k] for k in ("backbone", "num_frames", "batch_size", "amp", "device", "image_size")},
        "auto_workers": w,
        "skipped": budget.skipped,
    }
    short = clip_set(args.out / "clips-short", args.clips, **SHORT, size=args.size, procs=cores)
    res["short_clips"] = {k: v for k, v in short.items() if k not in ("paths",)}
    if budget.allows("decoder's limit at W", COST["decode_limit"]):
        res["decode_limit"] = decode_limits(short["paths"], [w], extract)
    if budget.allows("stage, num_workers auto", COST["stage"]):
        res["stage"] = stage_runs(short, args.out / "runs", ["auto"], extract)
    if budget.allows("bare model", COST["bare"]):
        res["bare"] = bare_model(extract, args.bare_frames)
    if budget.allows("decoder's limit at 1 and W/2", COST["decode_limit"]):
        res["decode_limit"] = decode_limits(short["paths"], sorted({1, max(1, w // 2)}), extract) + res.get(
            "decode_limit", []
        )
    for n in args.workers:
        if n != w and budget.allows(f"stage, num_workers {n}", COST["stage"]):
            res.setdefault("stage", []).extend(stage_runs(short, args.out / "runs", [n], extract))
    if budget.allows("long clips", COST["long"]):
        long = clip_set(args.out / "clips-long", args.long_clips, **LONG, size=args.size, procs=cores)
        res["long_clips"] = {k: v for k, v in long.items() if k not in ("paths",)}
        res["long_decode_limit"] = decode_limits(long["paths"], [w], extract)
        res["long_stage"] = stage_runs(long, args.out / "runs", ["auto"], extract)
    if budget.allows("NVDEC", COST["nvdec"]):
        hd_size, hd_n = ((1920, 1080), 32) if not args.cpu_smoke else ((320, 180), 2)

        def hd() -> dict[str, Any]:
            return clip_set(args.out / "clips-hd", hd_n, 10.0, 30, size=hd_size, procs=cores)

        def stage(decoder: str) -> list[dict]:
            return stage_runs(short, args.out / f"runs-{decoder}", ["auto"], {**extract, "decoder": decoder})

        res["nvdec"] = nvdec_part(short, extract, w, hd, stage)
    res["machine"]["load_average_at_end"] = os.getloadavg()
    res["seconds"] = round(time.perf_counter() - budget.start, 1)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-proxy", action="store_true", help="the CPU proxy of the feeding goal (benchmarks/proxy.py)")
    ap.add_argument("--cpu-smoke", action="store_true", help="every part on CPU at a tiny size: checks the script")
    ap.add_argument("--json", action="store_true", help="--cpu-proxy: print one JSON object on the last line")
    ap.add_argument("--workers", type=int, nargs="*", default=None, help="W of the proxy; stage runs' num_workers")
    ap.add_argument("--videos", type=int, default=48, help="--cpu-proxy: videos in each of (a) and (b)")
    ap.add_argument("--rounds", type=int, default=7, help="--cpu-proxy: (a) then (b), this many times")
    ap.add_argument("--clips", type=int, default=768)
    ap.add_argument("--long-clips", type=int, default=64)
    ap.add_argument("--bare-frames", type=int, default=20480)
    ap.add_argument("--budget-seconds", type=float, default=330)
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "gpu")
    ap.add_argument("--render", action="store_true", help="only render --out's results.json")
    ap.add_argument("--write", action="store_true", help="put the table into BENCHMARKS.md")
    ap.add_argument(
        "--baseline", nargs=2, action="append", default=[], metavar=("LABEL", "JSON"),
        help="--cpu-proxy --write: a row before this code's, from another proxy.json (e.g. the previous code's)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    from benchmarks.gpu_report import AWAITING, render_gpu, render_proxy
    from benchmarks.markdown import write_section

    if args.cpu_proxy:
        from benchmarks.proxy import run_proxy

        result = run_proxy((args.workers or [1])[0], args.videos, args.out, args.rounds)
        (args.out / "proxy.json").write_text(json.dumps(result, indent=1))
        if args.write:
            runs = [(label, json.loads(Path(path).read_text())) for label, path in args.baseline]
            command = "--cpu-proxy --json" + (f" --workers {args.workers[0]}" if args.workers else "")
            write_section("gpu-proxy", render_proxy([*runs, ("this code", result)], command))
        print(json.dumps(result) if args.json else json.dumps(result, indent=1))
        return 0
    args.size, args.extract = (320, 240), {}
    if args.cpu_smoke:
        args.clips, args.long_clips, args.bare_frames, args.size = 8, 2, 64, (160, 120)
        args.extract = {"device": "cpu", "image_size": 64, "cpu_threads": 1}
        args.out = args.out / "smoke"
    args.workers = args.workers if args.workers is not None else ([1, 2] if args.cpu_smoke else [4, 8, 16])
    saved = args.out / "results.json"
    if not args.render:
        args.out.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(measure(args), indent=1, default=str))
    # no run on a CUDA host yet (--render without results): the section says that it awaits one, and how
    text = render_gpu(json.loads(saved.read_text())) if saved.is_file() else AWAITING
    print(text)
    if args.write and not args.cpu_smoke:
        write_section("gpu", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
