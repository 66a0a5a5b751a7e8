"""Benchmark of the whole pipeline as a user runs it: `dvc repro` on the demo data from scratch, then a one-head
change with `dvc exp run -S`, written to BENCHMARKS.md ("Pipeline").

    uv run python -m benchmarks.pipeline --write

The project's git-tracked files are copied into a fresh git repository (a clone-alike, like CI's), and DVC runs
there with this environment's interpreter, so nothing is installed and nothing is shared with ``data/`` here.
Measured: the full ``dvc repro`` wall time (issue 19's bar: ``make demo`` on a fresh clone, this plus the
environment's sync, ≤ 6 minutes on 2 CPU cores), the time of each stage (from the stages' own metrics where they
record it), and the wall time of ``dvc exp run -S heads.<head>.<key>=<v>``, which re-runs that head's ``train@``
stage and the report only (issue 19's bar for a pooled head's tweak: ≤ 30 s end to end). The report's headline is
quoted so the numbers and the claim come from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.markdown import write_section  # noqa: E402
from framecache.config.params import read_yaml  # noqa: E402


def _run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["DVC_NO_ANALYTICS"] = "1"
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout + proc.stderr


def _clone(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for rel in files.splitlines():
        if (ROOT / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "clone"]):
        subprocess.run(cmd, cwd=dst, check=True, capture_output=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
                            "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"})  # fmt: skip


def _one_head_changes(params: dict) -> list[str]:
    """Real changes (a key set to the value it has re-runs nothing): a recurrent head and a pooled one."""
    grid = params["heads"]["pool_mean"]["C_grid"]
    return [
        f"heads.gru.hidden={params['heads']['gru']['hidden'] + 32}",
        f"heads.pool_mean.C_grid=[{','.join(str(c) for c in grid[:-1])}]",
    ]


def _stage_seconds(proj: Path, head: str) -> tuple[float, float]:
    """Wall seconds of the train@<head> and report commands alone (outside DVC), as DVC runs them."""
    store, timing = "data/features/efficientnet_lite0.h5", proj.parent / "timing"
    train, _ = _run(["python", "-m", "stages.train", "--params", "params.yaml", "--head", head, "--store", store,
                     "--out", str(timing / head)], proj)  # fmt: skip
    report, _ = _run(["python", "-m", "stages.report", "--params", "params.yaml", "--prepared", "data/prepared",
                      "--features", "data/features", "--store", store, "--models", "data/models",
                      "--out", str(timing / "report")], proj)  # fmt: skip
    return train, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", nargs="*", default=None,
                    help="one-head changes for `dvc exp run -S` (default: gru's hidden + 32, and pool_mean's "
                         "C_grid without its largest value)")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the temporary project (path printed)")
    ap.add_argument("--write", action="store_true", help="update the Pipeline section of BENCHMARKS.md")
    args = ap.parse_args(argv)
    changes = args.set or _one_head_changes(read_yaml(ROOT / "params.yaml"))

    tmp = Path(tempfile.mkdtemp(prefix="framecache-pipeline-"))
    proj = tmp / "project"
    proj.mkdir()
    _clone(proj)
    load_start = os.getloadavg()[0]
    full, _ = _run(["dvc", "repro"], proj)
    print(f"dvc repro: {full:.1f} s", flush=True)
    headline = _headline(proj / "data/report/comparison.md")  # before the experiments change the report
    noop, _ = _run(["dvc", "repro"], proj)
    exps = []
    for change in changes:
        head = change.split(".")[1]
        one, out = _run(["dvc", "exp", "run", "-S", change], proj)
        ran = sorted({line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")})
        train_s, report_s = _stage_seconds(proj, head)
        exps.append({"set": change, "head": head, "seconds": one, "ran": ran, "train": train_s, "report": report_s})
        print(f"dvc exp run -S {change}: {one:.1f} s (train {train_s:.1f} s, report {report_s:.1f} s)", flush=True)
    load_end = os.getloadavg()[0]

    features = json.loads((proj / "data/features/metrics.json").read_text())
    trains = {}
    for metrics in sorted((proj / "data/models").glob("*/metrics.json")):
        trains[metrics.parent.name] = json.loads(metrics.read_text())

    lines = [
        "## Pipeline: the demo end to end, and one head changed",
        "",
        "Command: `uv run python -m benchmarks.pipeline --write` (a fresh clone-alike of the committed project, "
        "default params.yaml, the demo data)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; load average {load_start:.1f} at the "
        f"start, {load_end:.1f} at the end.",
        "",
        "| run | wall s | what ran |",
        "| --- | ---: | --- |",
        f"| `dvc repro` from scratch | {full:.0f} ({full / 60:.1f} min) | every stage: demo, prepare, extract "
        f"({features['frames']} frames at {features['frames_per_second']:.1f} frames/s), {len(trains)} × train, "
        "report |",
        f"| `dvc repro` again | {noop:.1f} | nothing (every stage up to date) |",
        *(f"| `dvc exp run -S {e['set']}` | {e['seconds']:.1f} | {', '.join(e['ran']) or 'nothing'} |" for e in exps),
        "",
        f"- Full run: {full / 60:.1f} min; `make demo` on a fresh clone adds the environment's sync (about 17 s "
        f"with uv's cache warm), bar ≤ 6 min: **{'met' if full + 17 <= 360 else 'not met'}**.",
        *(_exp_line(e, full, noop) for e in exps),
        "- Head fits in the full run (s): "
        + ", ".join(f"{name} {m['fit_seconds']:.1f}" for name, m in trains.items())
        + f"; extract {features['wall_seconds']:.0f} s.",
    ]
    if headline:
        lines += [
            "",
            "The report's headline after the full run, default params (`data/report/comparison.md`):",
            "",
            headline,
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section("pipeline", text)
    if args.keep:
        print(f"project kept in {proj}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _headline(comparison: Path) -> str:
    if not comparison.is_file():
        return ""
    bullets = comparison.read_text(encoding="utf-8").split("\n|", 1)[0]  # the bullets above the table
    return "\n".join(line for line in bullets.splitlines() if line.startswith("- "))


def _exp_line(e: dict, full: float, noop: float) -> str:
    # validate re-runs on any params change; its output is the same bytes, so it re-runs nothing downstream
    only = set(e["ran"]) - {"validate"} == {f"train@{e['head']}", "report"}
    pooled = e["head"].startswith(("pool_", "svm_"))
    bar = f" (bar for a pooled head ≤ 30 s: **{'met' if e['seconds'] <= 30 else 'not met'}**)" if pooled else ""
    return (
        f"- `{e['set']}`: {e['seconds']:.1f} s, **{e['seconds'] / full:.1%}** of the full run{bar}; it re-ran only "
        f"`train@{e['head']}` and the "
        f"report (and the params check `validate`): {'yes' if only else 'no'}. Of its {e['seconds']:.0f} s, "
        f"the two commands alone take "
        f"{e['train']:.1f} s (train@{e['head']}, Python imports included) and {e['report']:.1f} s (report); the "
        f"other {e['seconds'] - e['train'] - e['report']:.0f} s are DVC's own (checking every stage, hashing and "
        f"caching outputs, recording the experiment; `dvc repro` with nothing to do takes {noop:.1f} s)."
    )


if __name__ == "__main__":
    raise SystemExit(main())
