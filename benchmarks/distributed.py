"""Benchmark: extract frames/s with 1 process vs 2 processes (torchrun, gloo) on the same clips, written to
BENCHMARKS.md ("Scale-out extraction").

    uv run python -m benchmarks.distributed --write

Each run is the stage as DVC runs it, a fresh ``python -m stages.extract`` process with an empty output
folder: ``extract.processes: 1``, then ``extract.processes: 2`` (the stage relaunches itself under
``torchrun --standalone``; each rank takes half the cores). Runs alternate (1, 2, 1, 2, ...) so that load
from other jobs on a shared machine hits both alike. Reported per run: the stage's ``frames_per_second``
(frames computed / seconds of the extraction phase; with 2 processes the total over the slowest rank's
time), each rank's own frames/s, and the wall time of the whole command (interpreter and torchrun start-up,
model build and store assembly included). With a GPU, 1 process on 1 GPU is measured too.

Clips are synthesised with :func:`benchmarks.extract.make_clip` (camera-like pans, H.264) into ``--out``
and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from benchmarks.extract import ensure_clips, write_manifest  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from framecache.config.params import read_yaml  # noqa: E402


def run_stage(work: Path, manifest: Path, classes: Path, name: str, extract: dict) -> dict:
    """One fresh stage run; returns its metrics plus the command's wall seconds."""
    data = read_yaml(ROOT / "params.yaml")
    data["extract"].update(extract)
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    params = folder / "params.yaml"
    params.write_text(yaml.safe_dump(data), encoding="utf-8")
    cmd = [
        sys.executable, "-m", "stages.extract", "--params", str(params), "--manifest", str(manifest),
        "--classes", str(classes), "--out", str(folder / "s.h5"), "--failures", str(folder / "failures.csv"),
        "--metrics", str(folder / "metrics.json"),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # each run picks its own threads
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["command_seconds"] = wall
    return metrics


def describe(m: dict) -> str:
    ranks = m.get("per_rank", {})
    per = ", ".join(f"{r} {v['frames_per_second']:.1f}" for r, v in sorted(ranks.items())) or "-"
    return f"{m['frames_per_second']:.1f} | {per} | {m['extract_seconds']:.1f} | {m['command_seconds']:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--noise", type=float, default=7.0)
    ap.add_argument("--rounds", type=int, default=2, help="alternating 1-process and 2-process runs each")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out" / "distributed")
    ap.add_argument("--write", action="store_true", help="update the Scale-out section of BENCHMARKS.md")
    args = ap.parse_args(argv)
    out = args.out.resolve()

    clip_dir = out / f"clips-{args.width}x{args.height}-{args.fps}fps-{args.seconds:g}s"
    clips = ensure_clips(clip_dir, args.videos, args)
    manifest, classes = write_manifest(out / "prepared", clips)
    base = read_yaml(ROOT / "params.yaml")["extract"]
    cpu = {"device": "cpu"}

    runs: list[tuple[str, int, dict]] = []
    for r in range(args.rounds):
        for processes in (1, 2):
            m = run_stage(out / "runs", manifest, classes, f"p{processes}-r{r}", {**cpu, "processes": processes})
            runs.append(("cpu", processes, m))
            print(f"round {r} processes {processes}: {describe(m)}", flush=True)

    import torch

    gpu_line = (
        "No GPU was available to this run (none was lent to the session that recorded it): frames/s on 1 GPU "
        "not measured."
    )
    if torch.cuda.is_available():
        m = run_stage(out / "runs", manifest, classes, "gpu1", {"device": "cuda", "processes": 1})
        runs.append(("cuda", 1, m))
        gpu_line = f"1 process on 1 GPU ({torch.cuda.get_device_name(0)}): {m['frames_per_second']:.1f} frames/s."
        print(gpu_line, flush=True)

    one = [m["frames_per_second"] for dev, p, m in runs if dev == "cpu" and p == 1]
    two = [m["frames_per_second"] for dev, p, m in runs if dev == "cpu" and p == 2]
    ratio = statistics.median(two) / statistics.median(one)
    wall_one = statistics.median(m["command_seconds"] for dev, p, m in runs if dev == "cpu" and p == 1)
    wall_two = statistics.median(m["command_seconds"] for dev, p, m in runs if dev == "cpu" and p == 2)
    frames = runs[0][2]["frames_computed"]
    lines = [
        "## Scale-out extraction: 1 vs 2 processes (torchrun, gloo, CPU)",
        "",
        "Command: `"
        + " ".join(["uv run python -m benchmarks.distributed", *(argv if argv is not None else sys.argv[1:])])
        + "`",
        "",
        f"Data: {args.videos} synthetic H.264 clips, {args.width}x{args.height}, {args.fps} fps, {args.seconds:g} s; "
        f"backbone `{base['backbone']}`, {base['num_frames']} frames per video ({frames} frames per run), "
        f"`num_workers` = {base['num_workers']} per process, `cpu_threads` = null (1 process: torch's default "
        f"of {torch.get_num_threads()} threads; 2 processes: the cores split between them). Machine: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, shared with other jobs, "
        f"load average {os.getloadavg()[0]:.1f} at the end: read the timings as rough.",
        "",
        "| run | processes | frames/s (stage) | frames/s per rank | extraction s | command s |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for i, (dev, p, m) in enumerate(runs):
        lines.append(f"| {i + 1} ({dev}) | {p} | {describe(m)} |")
    lines += [
        "",
        f"Median frames/s: 1 process {statistics.median(one):.1f}, 2 processes {statistics.median(two):.1f}: "
        f"ratio **{ratio:.2f}**. Whole command (start-up included): {wall_one:.1f} s vs {wall_two:.1f} s. "
        "Both configurations use the same cores (1 process with torch's threads vs 2 processes with half as "
        "many each), so the ratio shows how well each keeps the cores busy, not added hardware; with GPUs or "
        "nodes each rank brings its own.",
        "",
        gpu_line,
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("distributed", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
