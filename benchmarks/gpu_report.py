"""BENCHMARKS.md sections of benchmarks/gpu.py: "GPU" (a CUDA host's run, or the statement that it awaits one)
and "GPU feeding, CPU proxy" (benchmarks/proxy.py, before and after a change)."""

from __future__ import annotations

from typing import Any


def _f(x: Any, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _verdict(value: float, goal: float, more_is_better: bool = True) -> str:
    met = value >= goal if more_is_better else value <= goal
    return "met" if met else "missed"


def render_proxy(runs: list[tuple[str, dict[str, Any]]], command: str, note: str = "") -> str:
    """The proxy's table: one row per (label, result), e.g. the code before and after a change; ``note``: what
    follows the table."""
    out = [
        "## GPU feeding, CPU proxy: the stage's loader against the decoder's limit",
        "",
        f"Command: `uv run python -m benchmarks.gpu {command}` (each row one run; `bench-out/gpu/proxy.json`)",
        "",
        "On 8 generated UCF101-like clips (10 s, 320x240, 30 fps, H.264 GOP 12) listed over and over, 16 uniform "
        "samples each: (a) the decoder's limit, `load_sample` alone in a Pool of W processes; (b) the stage's "
        "own compute step (`compute_share`: its decode workers, batcher and journal) with W workers and the "
        "model replaced by a no-op, as on a GPU host where the main process only launches the model. Both are "
        "timed from starting their processes to the last result; (a) and (b) alternate, and the ratio is the "
        "median of each round's (b)/(a). *main CPU* is the main process's CPU time in (b) per video (all its "
        "threads). Goals on this 2-core machine with W = 1: ratio ≥ 0.9, main CPU ≤ 3 ms per video.",
        "",
        "| code | W | rounds x videos | decoder's limit frames/s | stage frames/s | ratio (per-round) "
        "| main CPU ms/video | load average |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for label, r in runs:
        per_round = ", ".join(
            f"{b['fps'] / a['fps']:.2f}" for a, b in zip(r["runs"]["decode_limit"], r["runs"]["pipeline"], strict=True)
        )
        out.append(
            f"| {label} | {r['workers']} | {r['rounds']} x {r['videos']} | {r['decode_limit_fps']:.0f} "
            f"| {r['pipeline_fps']:.0f} | **{r['ratio']:.2f}** ({per_round}) | **{r['main_cpu_ms_per_video']:.2f}** "
            f"| {r['load_average'][0]:.1f} → {r['load_average'][1]:.1f} |"
        )
    return "\n".join([*out, *(["", note] if note else [])]) + "\n"


def _stage_rows(stage: list[dict], limits: dict[int, float], label: str) -> list[str]:
    rows = []
    for s in stage:
        w = s["num_workers"]
        ratio = s["frames_per_second"] / limits[w] if w in limits else None
        rows.append(
            f"| {label}, `num_workers: {s['requested']}` | {w} | {_f(s['frames_per_second'])} "
            f"| {_f(ratio, 2)} | {_f(s['startup_seconds'], 1)} | {_f(s['teardown_seconds'], 1)} "
            f"| {_f(s['model_build_seconds'], 1)} | {_f(s['command_seconds'], 1)} |"
        )
    return rows


def _goals(res: dict[str, Any], limits: dict[int, float]) -> list[str]:
    lines = []
    auto = [s for s in res.get("stage", []) if s["requested"] == "auto"]
    if auto and auto[0]["num_workers"] in limits:
        s = auto[0]
        ratio = s["frames_per_second"] / limits[s["num_workers"]]
        lines.append(
            f"- The stage (`num_workers: auto`, {s['num_workers']} workers) / the decoder's limit with as many "
            f"processes: **{ratio:.2f}** (goal ≥ 0.9: **{_verdict(ratio, 0.9)}**)."
        )
    if auto:
        outside = auto[0]["startup_seconds"] + auto[0]["teardown_seconds"]
        phases = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in auto[0]["phases_seconds"].items())
        lines.append(
            f"- Outside the extraction loop: **{outside:.1f} s** (goal ≤ 5 s: **{_verdict(outside, 5, False)}**); "
            f"the command's phases: {phases}."
        )
    return lines


def render_gpu(res: dict[str, Any]) -> str:
    """The "GPU" section from a run's results.json."""
    m, e = res["machine"], res["extract"]
    limits = {r["processes"]: r["fps"] for r in res.get("decode_limit", [])}
    long_limits = {r["processes"]: r["fps"] for r in res.get("long_decode_limit", [])}
    short = res["short_clips"]
    out = [
        "## GPU: stage 1 on a CUDA host",
        "",
        "Command: `python -m benchmarks.gpu --out OUT` on the host, then `uv run python -m benchmarks.gpu "
        "--render --out OUT --write` (raw numbers: `OUT/results.json`).",
        "",
        f"Machine: {m['gpu'] or 'no GPU'}, {m['cpus']} cores, Python {m['python']}, torch {m['torch']}; load "
        f"average {m['load_average_at_start'][0]:.1f} at the start. Clips: {short['n']} of {short['seconds']:g} s "
        f"({short.get('size', '320x240')}, 30 fps, H.264 GOP {short['gop']}); backbone `{e['backbone']}`, "
        f"{e['num_frames']} samples per "
        f"video, amp `{e['amp']}`. `num_workers: auto` gives {res['auto_workers']} here. Stage runs are "
        "`python -m stages.extract`, a fresh process each; frames/s over the extraction loop (from starting the "
        "decode workers to the last features); *start-up* and *teardown* are the command's time before and "
        "after it (metrics.json), *build* the model's build inside the loop. Whole run: "
        f"{res['seconds']:.0f} s.",
        "",
        "| measurement | processes / workers | frames/s | / decoder's limit | start-up s | teardown s | build s "
        "| command s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    bare = res.get("bare")
    if bare:
        out.append(
            f"| bare model, batch {bare['batch']}, frames on its device | | {_f(bare['resident_fps'])} | | | | | |"
        )
        out.append(
            f"| bare model through the stage's batcher (pinned host batches) | | {_f(bare['staged_fps'])} | | | | | |"
        )
    for p, fps in sorted(limits.items()):
        out.append(f"| decoder's limit: `load_sample` in a Pool | {p} | {_f(fps)} | 1.00 | | | | |")
    out += _stage_rows(sorted(res.get("stage", []), key=lambda s: s["num_workers"]), limits, "stage")
    for p, fps in sorted(long_limits.items()):
        clips = f"{res['long_clips']['seconds']:g} s clips (GOP {res['long_clips']['gop']})"
        out.append(f"| {clips}: decoder's limit | {p} | {_f(fps)} | 1.00 | | | | |")
    if "long_stage" in res:
        out += _stage_rows(res["long_stage"], long_limits, f"{res['long_clips']['seconds']:g} s clips: stage")
    out += ["", *_goals(res, limits)]
    nvdec = res.get("nvdec") or {}
    out.append(f"- NVDEC: {nvdec.get('summary', 'not measured in this run')}.")
    if res.get("skipped"):
        out.append(f"- Skipped to stay within the time budget: {'; '.join(res['skipped'])}.")
    return "\n".join(out) + "\n"


AWAITING = """## GPU: stage 1 on a CUDA host

This table awaits a run on a CUDA host: no GPU was lent to the session that built `benchmarks/gpu.py`, so
nothing in this section is measured yet, and the feeding goal (the stage at ≥ 0.9x the decoder's limit) is
carried by the CPU proxy below. On the host described in `../shared/gpu/README.md` (one H100, 16 cores,
Python 3.12, torch 2.11, no DVC), from the project's root:

    bash ../shared/gpu/wheels.sh pynvvideocodec   # once, where pip can reach PyPI: PyAV, pydantic, weights, NVDEC
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target .site .whl/*.whl
    export PYTHONPATH=$PWD/.site:$PWD
    python -m benchmarks.gpu --out bench-out/gpu-host      # ~5 minutes: OUT/results.json
    uv run python -m benchmarks.gpu --render --out bench-out/gpu-host --write   # back here: this section

It measures the bare model (resident and staged), the decoder's limit at 1, W/2 and W processes, the stage
at `num_workers` auto (W), 4, 8 and 16 with start-up and teardown apart, a 120 s clip set, and NVDEC where
PyNvVideoCodec is installed (NVDEC alone, the decode pool's CPU workers plus NVDEC threads on these clips
and on 1080p clips, the stage with `extract.decoder: auto` against `cpu`). `uv run python -m benchmarks.gpu
--cpu-smoke` runs every part on CPU at a tiny size (it checks the script, it measures nothing worth
reporting). NVDEC decoding is therefore unmeasured: its goals (CPU workers plus NVDEC ≥ 1.3x the CPU
decoder's limit on these clips, ≥ 3x on 1080p clips) await the same run, as does the tolerance between
NVDEC's frames and the CPU's (`tests/video/test_nvdec.py` checks it where a GPU is present).
"""
