"""Benchmark: fit time and accuracy of every configured head, written to BENCHMARKS.md ("Heads").

    uv run python -m benchmarks.heads                      # synthetic stand-in for the demo features
    uv run python -m benchmarks.heads --store data/features/efficientnet_lite0.h5 --write

Each head of ``train.heads`` (or ``--heads``) is trained with the train stage's protocol
(:func:`framecache.training.train_head`: fit on train, select on val, score test once) and timed. Without
``--store`` the data is :func:`synthetic.order_task` shaped like the demo (10 classes, 24 clips
each, T = 16, k = 1280: four appearance classes and three order pairs); with ``--store``, a real feature
store and its order pairs (the prepared folder's class_pairs.csv and ``report.class_pairs``). ``--write``
replaces this benchmark's section of BENCHMARKS.md, leaving the other sections alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.markdown import write_section  # noqa: E402
from framecache.config.params import load_params  # noqa: E402
from framecache.training import train_head  # noqa: E402
from tests.synthetic import order_task, pair_accuracy  # noqa: E402


def load_data(args: argparse.Namespace, params) -> tuple[list, list, np.ndarray, np.ndarray, list[str], list, str]:
    if args.store:
        from framecache.features.store import FeatureStore, configured_provenance

        with FeatureStore.open(args.store, expect=configured_provenance(params["extract"])) as store:
            classes = list(store.classes)
            s = store.load()
        from framecache.data.class_pairs import read_class_pairs
        from framecache.layout import CLASS_PAIRS
        from framecache.report.build import class_pairs

        listed = class_pairs(params["report"]["class_pairs"], read_class_pairs(Path(args.prepared) / CLASS_PAIRS))
        pairs = [(classes.index(a), classes.index(b)) for a, b in listed if a in classes and b in classes]
        return s.ids, s.X, s.y, s.split, classes, pairs, f"feature store `{args.store}`"
    d = order_task(seed=args.seed)
    ids = [f"clip{i:04d}" for i in range(len(d.X))]
    what = "synthetic stand-in (`tests.synthetic.order_task`, 10 classes × 24 clips, T = 16, k = 1280)"
    return ids, d.X, d.y, d.split, d.classes, d.pairs, what


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--store", help="feature store to train on (default: synthetic stand-in)")
    ap.add_argument("--prepared", default="data/prepared", help="with --store: the prepared folder (class pairs)")
    ap.add_argument("--heads", help="comma-separated head names (default: train.heads)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="update the Heads section of BENCHMARKS.md")
    args = ap.parse_args(argv)

    params = load_params(args.params)
    names = args.heads.split(",") if args.heads else list(params["train"]["heads"])
    ids, X, y, split, classes, pairs, what = load_data(args, params)
    in_pair = {c for p in pairs for c in p}
    rows = []
    total = time.perf_counter()
    for name in names:
        res = train_head(
            name, params["heads"][name].to_dict(), ids, X, y, split, classes,
            repeats=args.repeats, seed=args.seed, device=params["train"]["device"],
            threads=params["train"]["cpu_threads"],
        )  # fmt: skip
        s = res.summary()
        test = res.data["test"]
        proba = np.mean([r.proba["test"] for r in res.repeats], axis=0)
        appearance = ~np.isin(test.y, list(in_pair))
        app_acc = float(np.mean(np.argmax(proba[appearance], 1) == test.y[appearance])) if appearance.any() else np.nan
        pair_accs = [pair_accuracy(test.y, proba, p) for p in pairs]
        rows.append((name, s["fit_seconds"], s["inference_ms_per_video"], s["parameters"], s["test_top1"],
                     app_acc, pair_accs))  # fmt: skip
        print(f"{name:18s} fit {s['fit_seconds']:6.1f} s  test top-1 {s['test_top1']:.2f}  appearance "
              f"{app_acc:.2f}  pairs {' '.join(f'{a:.2f}' for a in pair_accs)}", flush=True)  # fmt: skip
    total = time.perf_counter() - total

    pair_names = [f"{classes[a]}/{classes[b]}" for a, b in pairs]
    lines = [
        "## Heads: fit time per head",
        "",
        "Command: `"
        + " ".join(["uv run python -m benchmarks.heads", *(argv if argv is not None else sys.argv[1:])])
        + "`",
        "",
        f"Data: {what}. Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"`train.cpu_threads` = {params['train']['cpu_threads']}, device `{params['train']['device']}`, "
        f"{args.repeats} repeat(s). Timings are wall-clock on a machine shared with other jobs: read them as "
        "orders of magnitude.",
        "",
        "| head | fit s | inference ms/video | parameters | test top-1 | appearance acc | "
        + " | ".join(f"within {p}" for p in pair_names)
        + " |",
        "| --- | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in pair_names) + " |",
    ]
    for name, fit, inf, n_par, top1, app, pa in rows:
        lines.append(
            f"| {name} | {fit:.1f} | {inf:.2f} | {n_par:,} | {top1:.2f} | {app:.2f} | "
            + " | ".join(f"{a:.2f}" for a in pa)
            + " |"
        )
    lines += ["", f"All {len(rows)} heads: {total:.0f} s in total.", ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("heads", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
