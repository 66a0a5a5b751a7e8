"""Benchmark of stage 1 (extract) against issue 3's bars, all measured in one run on the same clips.

    uv run python benchmarks/extract.py --videos 100 --out bench-out/extract

(a) bare model: the backbone's forward pass on in-memory frames at the stage's batch size and resolution, as
    the stage builds it (BatchNorms folded); (a') the same network as timm builds it;
(b) the extract stage end to end (``run_extract``: manifest in, HDF5 store out, model build included),
    interleaved with (a) and (c), each run compared with the (a) runs around it (median of the ratios);
(c) the peers' pattern: every frame of each video decoded and written as a JPEG file (what
    five-video-classification-methods does with ffmpeg), T of them sampled, each loaded and preprocessed on its
    own with PIL, and the model (as timm builds it, BatchNorms unfolded) run one frame at a time in NCHW
    layout — in a process of its own with OpenMP's default settings, as the peers' code runs;
plus the decoder's own limit, the CPU batch-size sweep behind ``DEFAULT_BATCH_SIZE``, peak memory for N and 2N
videos (each a fresh ``python -m stages.extract`` process, its worker processes included), the incremental
case (10 % new videos) and the store's chunking/compression choice. Clips are synthesised with PyAV into
``--out`` (UCF101-like: 320x240, 25 fps, H.264) and reused by later runs. Results go to ``results.json`` and a
Markdown summary to stdout.

``--omp-wait-policy`` picks OpenMP's wait policy for (a) and (b): ``passive`` is what the stage sets
(stages/extract.py), ``default`` leaves OpenMP's spin-then-sleep default.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np


def _omp_default_requested(argv: list[str]) -> bool:
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return any(a == "--omp-wait-policy=default" or (a, b) == ("--omp-wait-policy", "default") for a, b in pairs)


# Before torch loads OpenMP: the stage's own setting (stages/extract.py) unless told otherwise.
if _omp_default_requested(sys.argv):
    os.environ.pop("OMP_WAIT_POLICY", None)
else:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.markdown import write_section  # noqa: E402
from framecache.backbones import build  # noqa: E402
from framecache.compute import resolve_device  # noqa: E402
from framecache.config.params import load_params  # noqa: E402
from framecache.features import embed, extraction  # noqa: E402
from framecache.features.store import FeatureStore, StoreWriter  # noqa: E402
from framecache.fileio import file_sha256  # noqa: E402
from framecache.video.probe import probe  # noqa: E402
from framecache.video.sampling import uniform_indices  # noqa: E402


# -------------------------------------------------------------------------------------------------- clips
def make_clip(path: Path, seed: int, seconds: float, fps: int, width: int, height: int, noise: float) -> None:
    """A camera-like clip: a pan across a photo with sensor noise, which sets the bitrate (UCF101's 320x240
    clips run at roughly 300-500 kbit/s; noise 7 gives about that with libx264's defaults)."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(seed)
    src = np.asarray(Image.fromarray(photos[seed % len(photos)]).resize((2 * width, 2 * height)))
    x0, y0 = rng.integers(0, width // 2), rng.integers(0, height // 2)
    vx, vy = rng.uniform(-2, 2, size=2)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(round(seconds * fps)):
            x = int(np.clip(x0 + vx * i, 0, width - 1))
            y = int(np.clip(y0 + vy * i, 0, height - 1))
            crop = src[y : y + height, x : x + width].astype(np.int16)
            crop = np.clip(crop + rng.normal(0, noise, crop.shape), 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(path)


def ensure_clips(folder: Path, n: int, args: argparse.Namespace, first: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(first, first + n):
        path = folder / f"clip{i:04d}.mp4"
        if not path.is_file():
            make_clip(path, i, args.seconds, args.fps, args.width, args.height, args.noise)
        paths.append(path)
    return paths


def write_manifest(folder: Path, clips: list[Path]) -> tuple[Path, Path]:
    import pandas as pd

    rows = []
    for i, path in enumerate(clips):
        info = probe(path)
        rows.append(
            {
                "video_id": path.name,
                "path": str(path),
                "label": f"c{i % 4}",
                "label_index": i % 4,
                "split": "train",
                "group": f"g{i}",
                **info.as_dict(),
                "sha256": file_sha256(path),
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    (folder / "classes.txt").write_text("c0\nc1\nc2\nc3\n")
    return folder / "manifest.csv", folder / "classes.txt"


# -------------------------------------------------------------------------------------------------- (a)
def bare_model(bb: build.Backbone, batch: int, frames: int, channels_last: bool = True) -> float:
    """frames/s of normalise + forward on in-memory uint8 frames at ``batch``."""
    crop = bb.preprocessing.crop
    x = torch.randint(0, 255, (batch, crop, crop, 3), dtype=torch.uint8)
    model = bb.model if channels_last else bb.model.to(memory_format=torch.contiguous_format)
    with torch.inference_mode():
        for _ in range(2):
            inp = bb.normalize(x)
            model(inp if channels_last else inp.contiguous())
        n = max(2, frames // batch)
        start = time.perf_counter()
        for _ in range(n):
            inp = bb.normalize(x)
            model(inp if channels_last else inp.contiguous())
        elapsed = time.perf_counter() - start
    if not channels_last:
        bb.model.to(memory_format=torch.channels_last)
    return n * batch / elapsed


# -------------------------------------------------------------------------------------------------- (c)
def peers_pattern(clips: list[Path], bb: build.Backbone, num_frames: int) -> dict:
    import timm.data
    from PIL import Image

    cfg = timm.data.resolve_data_config(
        {}, pretrained_cfg=timm.models.get_pretrained_cfg("tf_efficientnet_lite0").to_dict()
    )
    transform = timm.data.create_transform(**cfg)
    model = bb.model.to(memory_format=torch.contiguous_format)  # NCHW, as the peers run it
    decode_s = model_s = 0.0
    frames = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=REPO / "bench-out") as tmp:
        for v, clip in enumerate(clips):
            t0 = time.perf_counter()
            folder = Path(tmp) / f"v{v}"
            folder.mkdir()
            with av.open(str(clip)) as container:
                for i, frame in enumerate(container.decode(video=0)):
                    frame.to_image().save(folder / f"{i:05d}.jpg", quality=95)
            files = sorted(folder.glob("*.jpg"))
            chosen = [files[i] for i in uniform_indices(len(files), num_frames)]
            t1 = time.perf_counter()
            with torch.inference_mode():
                for f in chosen:
                    x = transform(Image.open(f).convert("RGB"))[None]
                    model(x)
                    frames += 1
            t2 = time.perf_counter()
            decode_s += t1 - t0
            model_s += t2 - t1
            shutil.rmtree(folder)
    bb.model.to(memory_format=torch.channels_last)
    wall = time.perf_counter() - start
    return {
        "frames_per_second": frames / wall,
        "frames": frames,
        "decode_to_jpeg_seconds": decode_s,
        "preprocess_and_model_seconds": model_s,
        "wall_seconds": wall,
    }


# -------------------------------------------------------------------------------------------------- memory
def peak_memory(params: Path, manifest: Path, classes: Path, out: Path) -> dict:
    """Run the stage in a fresh process; sample the RSS (and PSS) of it and its workers every 0.1 s."""
    import psutil

    out.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "stages.extract",
        "--params",
        str(params),
        "--manifest",
        str(manifest),
        "--classes",
        str(classes),
        "--out",
        str(out / "s.h5"),
        "--failures",
        str(out / "failures.csv"),
        "--metrics",
        str(out / "metrics.json"),
    ]
    proc = psutil.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_rss = peak_main = 0
    while proc.poll() is None:
        try:
            procs = [proc, *proc.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in procs)
            peak_rss = max(peak_rss, rss)
            peak_main = max(peak_main, proc.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    if proc.returncode != 0:
        raise RuntimeError(f"extract failed: {cmd}")
    return {"peak_rss_tree_mib": peak_rss / 2**20, "peak_rss_main_mib": peak_main / 2**20}


# -------------------------------------------------------------------------------------------------- store
def store_formats(source: Path, work: Path) -> list[dict]:
    with FeatureStore.open(source) as store:
        records = [store.record(i) for i in range(len(store))]
        prov, classes = store.provenance, store.classes
    rows = []
    rng = np.random.default_rng(0)
    for compression in ("none", "lzf", "gzip"):
        for chunk_rows in (64, 256, 1024):
            path = work / f"store-{compression}-{chunk_rows}.h5"
            t0 = time.perf_counter()
            with StoreWriter(path, prov, classes, compression=compression, chunk_rows=chunk_rows) as w:
                for r in records:
                    w.append(r)
            t1 = time.perf_counter()
            with FeatureStore.open(path) as s:
                s.load()
                t2 = time.perf_counter()
                picks = rng.integers(0, len(s), 200)
                for i in picks:
                    s.sequence(int(i))
                t3 = time.perf_counter()
            rows.append(
                {
                    "compression": compression,
                    "chunk_rows": chunk_rows,
                    "mib": path.stat().st_size / 2**20,
                    "write_s": t1 - t0,
                    "load_all_s": t2 - t1,
                    "random_video_ms": (t3 - t2) / 200 * 1000,
                }
            )
            path.unlink()
    return rows


# -------------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--noise", type=float, default=7.0, help="sensor noise of the clips (sets their bitrate)")
    ap.add_argument("--num-frames", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=None, help="default: the stage's default for the device")
    ap.add_argument("--num-workers", type=int, default=None, help="default: params.yaml")
    ap.add_argument("--memory-videos", type=int, default=20, help="N for the N vs 2N memory runs")
    ap.add_argument("--skip", nargs="*", default=[], choices=["sweep", "peers", "memory", "incremental", "store"])
    ap.add_argument("--omp-wait-policy", choices=["passive", "default"], default="passive")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of (a), (b) and (c)")
    ap.add_argument("--peers-only", action="store_true", help="run (c) alone and print its result as JSON")
    ap.add_argument("--peers-subset", default="0/1", help="with --peers-only: clips k, k+n, k+2n, ... as k/n")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "extract")
    ap.add_argument("--write", action="store_true", help="put the results into BENCHMARKS.md (section extract)")
    ap.add_argument("--render", action="store_true", help="only render --out's results.json (with --write: write it)")
    args = ap.parse_args()
    if args.render:
        text = render(json.loads((args.out / "results.json").read_text()))
        print(text)
        if args.write:
            write_section("extract", text)
        return
    out = args.out.resolve()
    (REPO / "bench-out").mkdir(exist_ok=True)
    results: dict = {"config": vars(args) | {"out": str(out)}}
    results["machine"] = {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": os.getloadavg(),
        "cuda": torch.cuda.is_available(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }

    clip_dir = out / f"clips-{args.width}x{args.height}-{args.fps}fps-{args.seconds:g}s-noise{args.noise:g}"
    clips = ensure_clips(clip_dir, args.videos, args)
    with av.open(str(clips[0])) as probe_container:
        results["clips"] = {
            "folder": str(clip_dir),
            "kbit_per_second": probe_container.bit_rate / 1000,
            "codec": probe_container.streams.video[0].codec_context.name,
            "frames": probe_container.streams.video[0].frames,
        }
    params = load_params(REPO / "params.yaml").to_dict()
    extract = params["extract"]
    extract["num_frames"] = args.num_frames
    extract["sampling"] = "uniform"
    if args.batch_size:
        extract["batch_size"] = args.batch_size
    if args.num_workers is not None:
        extract["num_workers"] = args.num_workers
    device = resolve_device(extract["device"], "extract.device")
    batch = embed.resolve_batch_size(extract["batch_size"], device)
    results["config"] |= {"batch_size": batch, "num_workers": extract["num_workers"], "device": str(device)}
    bb = build.build_backbone(extract["backbone"], device=device)

    if args.peers_only:
        # the peers run the network as the library builds it: no BatchNorm folding
        plain = build.build_backbone(extract["backbone"], device=device, fold_bn=False)
        k, n = (int(x) for x in args.peers_subset.split("/"))
        print(json.dumps(peers_pattern(clips[k::n], plain, args.num_frames)))
        return

    if "sweep" not in args.skip and device.type == "cpu":
        # interleaved rounds, so a burst of load from elsewhere hits every batch size alike; median per size
        sizes = (1, 2, 4, 8, 16, 32)
        runs: dict[tuple[int, bool], list[float]] = {(b, cl): [] for b in sizes for cl in (True, False)}
        for _round in range(3):
            for b in sizes:
                for cl in (True, False):
                    runs[(b, cl)].append(bare_model(bb, b, 64, channels_last=cl))
        sweep = [
            {"batch": b, "channels_last": float(np.median(runs[(b, True)])), "nchw": float(np.median(runs[(b, False)]))}
            for b in sizes
        ]
        for row in sweep:
            print("sweep", row, flush=True)
        results["batch_sweep_frames_per_second"] = sweep

    # (a), (a') and (b) interleaved — a a' b a a' b a a' b a a' — so drifting load from elsewhere hits them alike.
    # Each (b) run is compared with the (a) runs just before and after it; the median of those ratios is reported.
    # (a') is the network as timm builds it (BatchNorms unfolded), which is what users of timm run.
    plain = build.build_backbone(extract["backbone"], device=device, fold_bn=False)
    frames_a = max(256, args.videos * args.num_frames // 4)
    manifest, classes = write_manifest(out / "prepared", clips)
    store = out / "features" / "s.h5"
    a_runs, plain_runs, b_runs, b_metrics = [], [], [], []

    def run_stage(manifest: Path) -> tuple[dict, float]:
        t0 = time.perf_counter()
        features = out / "features"
        metrics = extraction.run_extract(
            extract, manifest, classes, store, features / "failures.csv", features / "metrics.json", progress=False
        )
        return metrics, time.perf_counter() - t0

    def measure_a() -> None:
        a_runs.append(bare_model(bb, batch, frames_a))
        plain_runs.append(bare_model(plain, batch, frames_a))
        print(f"(a) bare model {a_runs[-1]:.1f} frames/s; (a') unfolded {plain_runs[-1]:.1f} frames/s", flush=True)

    def measure_c(k: int, n: int) -> dict:
        """(c) on every n-th clip from k, in a process of its own with OpenMP's defaults, as the peers run."""
        env = {key: v for key, v in os.environ.items() if key != "OMP_WAIT_POLICY"}
        cmd = [sys.executable, __file__, "--peers-only", "--omp-wait-policy=default", "--out", str(out),
               "--videos", str(args.videos), "--num-frames", str(args.num_frames), "--seconds", str(args.seconds),
               "--fps", str(args.fps), "--width", str(args.width), "--height", str(args.height),
               "--noise", str(args.noise), "--peers-subset", f"{k}/{n}"]  # fmt: skip
        done = subprocess.run(cmd, env=env, cwd=REPO, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    # Rounds of a b c: (c) takes a different share of the clips each round, so over the rounds it sees them all
    # while each of its runs sits next to a (b) run; (b) / (c) is the median of the per-round ratios.
    c_runs: list[dict] = []
    for rep in range(args.rounds):
        measure_a()
        shutil.rmtree(out / "features", ignore_errors=True)
        metrics, wall = run_stage(manifest)
        b_runs.append(metrics["frames"] / wall)
        b_metrics.append(metrics | {"end_to_end_seconds": wall})
        print(f"(b) extract end to end {b_runs[-1]:.1f} frames/s (run {rep + 1})", flush=True)
        if "peers" not in args.skip:
            c_runs.append(measure_c(rep, args.rounds))
            print(f"(c) peers' pattern {c_runs[-1]['frames_per_second']:.1f} frames/s (run {rep + 1})", flush=True)
    measure_a()

    pair_ratios = [b / ((a_runs[i] + a_runs[i + 1]) / 2) for i, b in enumerate(b_runs)]
    plain_ratios = [b / ((plain_runs[i] + plain_runs[i + 1]) / 2) for i, b in enumerate(b_runs)]
    a, b_fps = float(np.median(a_runs)), float(np.median(b_runs))
    wall_b = float(np.median([m["end_to_end_seconds"] for m in b_metrics]))
    results["a_bare_model"] = {"frames_per_second": a, "runs": a_runs, "batch": batch}
    results["a_unfolded_model"] = {"frames_per_second": float(np.median(plain_runs)), "runs": plain_runs}
    results["b_extract"] = {"frames_per_second_end_to_end": b_fps, "runs": b_runs, "metrics": b_metrics}
    results["ratio_b_over_a_per_run"] = pair_ratios
    results["ratio_b_over_a"] = float(np.median(pair_ratios))
    results["ratio_b_over_unfolded_a"] = float(np.median(plain_ratios))

    # the decoder alone (one process, sequential): how many sampled frames per second it can deliver
    from framecache.video.decode import load_sample
    from framecache.video.sampling import Sampling

    sampling = Sampling(num_frames=args.num_frames)
    t0 = time.perf_counter()
    for clip in clips:
        load_sample(clip, sampling, bb.preprocessing.geometry())
    dec = time.perf_counter() - t0
    results["decoder_one_process"] = {
        "videos_per_second": len(clips) / dec,
        "sampled_frames_per_second": len(clips) * args.num_frames / dec,
    }
    print("decoder", results["decoder_one_process"], flush=True)

    if c_runs:
        c_fps = [c["frames_per_second"] for c in c_runs]
        results["c_peers_pattern"] = {
            "frames_per_second": float(np.median(c_fps)),
            "runs": c_fps,
            "frames": sum(c["frames"] for c in c_runs),
            "decode_to_jpeg_seconds": sum(c["decode_to_jpeg_seconds"] for c in c_runs),
            "preprocess_and_model_seconds": sum(c["preprocess_and_model_seconds"] for c in c_runs),
        }
        results["ratio_b_over_c_per_round"] = [b / c for b, c in zip(b_runs, c_fps, strict=True)]
        results["ratio_b_over_c"] = float(np.median(results["ratio_b_over_c_per_round"]))

    if "incremental" not in args.skip:
        extra = ensure_clips(clip_dir, max(1, args.videos // 10), args, first=args.videos)
        manifest2, _ = write_manifest(out / "prepared-plus", [*clips, *extra])
        m2, wall_inc = run_stage(manifest2)
        results["incremental"] = {
            "new_videos": len(extra),
            "wall_seconds": wall_inc,
            "full_run_seconds": wall_b,
            "ratio_to_full_run": wall_inc / wall_b,
            "videos_computed": m2["videos_computed"],
            "videos_reused": m2["videos_reused"],
        }
        print("incremental", results["incremental"], flush=True)

    if "store" not in args.skip:
        results["store_formats"] = store_formats(store, out)
        for row in results["store_formats"]:
            print("store", row, flush=True)

    if "memory" not in args.skip:
        import yaml

        pfile = out / "params.yaml"
        pfile.write_text(yaml.safe_dump(params))
        mem = {}
        for n in (args.memory_videos, 2 * args.memory_videos):
            subset = ensure_clips(clip_dir, n, args)
            m, cl = write_manifest(out / f"prepared-{n}", subset)
            shutil.rmtree(out / f"mem-{n}", ignore_errors=True)
            mem[n] = peak_memory(pfile, m, cl, out / f"mem-{n}")
            print("memory", n, mem[n], flush=True)
        n1, n2 = args.memory_videos, 2 * args.memory_videos
        results["memory"] = {str(k): v for k, v in mem.items()} | {
            "growth_tree": mem[n2]["peak_rss_tree_mib"] / mem[n1]["peak_rss_tree_mib"],
            "growth_main": mem[n2]["peak_rss_main_mib"] / mem[n1]["peak_rss_main_mib"],
        }

    results["machine"]["load_average_at_end"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    text = render(json.loads((out / "results.json").read_text()))
    print(text)
    if args.write:
        write_section("extract", text)


def render(r: dict) -> str:
    """The BENCHMARKS.md section for one run's results."""
    cfg, mach, clips = r["config"], r["machine"], r["clips"]
    a, b = r["a_bare_model"], r["b_extract"]
    bar = lambda ok: "**met**" if ok else "**not met**"  # noqa: E731
    runs = lambda xs: ", ".join(f"{x:.1f}" for x in xs)  # noqa: E731
    flags = ""
    if cfg["videos"] != 100 or cfg.get("skip"):
        flags = f" --videos {cfg['videos']}" + (f" --skip {' '.join(cfg['skip'])}" if cfg.get("skip") else "")
    lines = [
        "## Extract (stage 1): the stage against the bare model and the peers' pattern",
        "",
        f"Command: `uv run python benchmarks/extract.py{flags} --write` "
        "(raw numbers: `bench-out/extract/results.json`)",
        "",
        f"Clips: {cfg['videos']} synthetic camera-like clips (a noisy pan over a photo), "
        f"{cfg['width']}x{cfg['height']}, "
        f"{cfg['fps']} fps, {cfg['seconds']:g} s ({clips['frames']} frames), {clips['codec']} at "
        f"{clips['kbit_per_second']:.0f} kbit/s — UCF101-like. T = {cfg['num_frames']} frames per video (uniform). "
        f"Backbone efficientnet_lite0 at 224 px, device {cfg['device']}, batch {cfg['batch_size']}, "
        f"{cfg['num_workers']} decode workers. Machine: {mach['cpus']} CPU cores, no GPU, load average "
        f"{mach['load_average_at_start'][0]:.1f} at the start and {mach['load_average_at_end'][0]:.1f} at the end "
        "(the machine is shared: the runs are interleaved so load hits every measurement alike).",
        "",
        "| measurement | frames/s | runs |",
        "| --- | ---: | --- |",
        f"| (a) bare model: normalise + forward on in-memory frames, batch {a['batch']}, fp32 channels_last "
        f"(BatchNorms folded, as the stage runs it) | {a['frames_per_second']:.1f} | {runs(a['runs'])} |",
        *(
            [
                f"| (a') the same network as timm builds it (BatchNorms unfolded) | "
                f"{r['a_unfolded_model']['frames_per_second']:.1f} | {runs(r['a_unfolded_model']['runs'])} |"
            ]
            if "a_unfolded_model" in r
            else []
        ),
        f"| (b) extract stage end to end (`run_extract`: manifest → HDF5 store, model build included) | "
        f"{b['frames_per_second_end_to_end']:.1f} | {runs(b['runs'])} |",
    ]
    if "c_peers_pattern" in r:
        c = r["c_peers_pattern"]
        lines.append(
            "| (c) peers' pattern: every frame → JPEG, sample T, PIL + per-image transform, one frame at a time in "
            f"NCHW (each run on a different share of the clips; in all, {c['decode_to_jpeg_seconds']:.0f} s "
            f"decoding to JPEG, {c['preprocess_and_model_seconds']:.0f} s preprocessing + model) | "
            f"{c['frames_per_second']:.1f} | {runs(c.get('runs', [c['frames_per_second']]))} |"
        )
    dec = r["decoder_one_process"]
    m = b["metrics"][0]
    lines += [
        "",
        f"- **(b) / (a) = {r['ratio_b_over_a']:.2f}** (median over the (b) runs, each against the (a) runs "
        f"just before and after it: {', '.join(f'{x:.2f}' for x in r['ratio_b_over_a_per_run'])}); bar ≥ 0.90: "
        f"{bar(r['ratio_b_over_a'] >= 0.90)}."
        + (
            f" Against the unfolded network (a'): {r['ratio_b_over_unfolded_a']:.2f}."
            if "a_unfolded_model" in r
            else ""
        ),
    ]
    if "ratio_b_over_c" in r:
        per_round = ", ".join(f"{x:.1f}" for x in r.get("ratio_b_over_c_per_round", []))
        lines.append(
            f"- **(b) / (c) = {r['ratio_b_over_c']:.2f}×** (median of the rounds' ratios: {per_round}); "
            f"bar ≥ 3: {bar(r['ratio_b_over_c'] >= 3)}."
        )
    lines += [
        f"- Where (b)'s time goes (first run): model {m['model_seconds']:.1f} s, decoding {m['decode_seconds']:.1f} s "
        f"of worker time overlapped with it, the model waiting for decoded frames {m['loader_wait_seconds']:.2f} s, "
        f"{m['wall_seconds']:.1f} s wall. The decoder alone, one process: {dec['videos_per_second']:.1f} videos/s = "
        f"{dec['sampled_frames_per_second']:.0f} sampled frames/s, so on this CPU the model is the limit.",
    ]
    if "incremental" in r:
        inc = r["incremental"]
        lines.append(
            f"- Incremental: adding {inc['new_videos']} new videos to the {cfg['videos']} already stored computes "
            f"{inc['videos_computed']} and copies {inc['videos_reused']}; {inc['wall_seconds']:.1f} s against "
            f"{inc['full_run_seconds']:.1f} s for the full run = **{inc['ratio_to_full_run']:.0%}** of it (the new "
            f"videos are {inc['new_videos'] / (cfg['videos'] + inc['new_videos']):.0%} of the set; the rest is "
            "building the model and copying the store)."
        )
    if "memory" in r:
        mem = r["memory"]
        n1, n2 = sorted((k for k in mem if k.isdigit()), key=int)
        lines.append(
            f"- Peak memory (`python -m stages.extract` in a fresh process, RSS of it and its decode workers): "
            f"{n1} videos {mem[n1]['peak_rss_tree_mib']:.0f} MiB, {n2} videos {mem[n2]['peak_rss_tree_mib']:.0f} MiB "
            f"→ **{mem['growth_tree']:.2f}×** for twice the videos (bar ≤ 1.2×: {bar(mem['growth_tree'] <= 1.2)}); "
            f"main process alone {mem['growth_main']:.2f}×."
        )
    if "batch_sweep_frames_per_second" in r:
        lines += [
            "",
            "CPU batch-size sweep behind `DEFAULT_BATCH_SIZE['cpu']` (bare model, frames/s, median of 3 interleaved "
            "rounds):",
            "",
            "| batch | channels_last | NCHW |",
            "| ---: | ---: | ---: |",
            *(f"| {row['batch']} | {row['channels_last']:.1f} | {row['nchw']:.1f} |"
              for row in r["batch_sweep_frames_per_second"]),
        ]  # fmt: skip
    if "store_formats" in r:
        lines += [
            "",
            "Feature store layout (the (b) store rewritten per setting): size, write, load everything, read one "
            "random video:",
            "",
            "| compression | chunk rows | MiB | write s | load all s | random video ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *(f"| {row['compression']} | {row['chunk_rows']} | {row['mib']:.2f} | {row['write_s']:.3f} | "
              f"{row['load_all_s']:.3f} | {row['random_video_ms']:.2f} |" for row in r["store_formats"]),
        ]  # fmt: skip
    lines += [
        "",
        "GPU: no GPU machine was lent to this task, so the CUDA path (AMP, pinned memory, non-blocking copies) and "
        "the decoder's limit on a GPU host are not measured here.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
