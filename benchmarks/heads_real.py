"""Benchmark: every head on real videos (Weizmann-64, ud810) and on the demo under group k-fold, the torch heads'
recipe before and after issue 19 and each of its levers on and off; written to BENCHMARKS.md ("Heads on real data").

    uv run python -m benchmarks.heads_real --write
    uv run python -m benchmarks.heads_real --datasets ud810 --levers after,no_residual   # a quick look

Each dataset is prepared and extracted once with the library's own stages (``prepare_dataset``, ``run_extract``;
the demo is written by ``write_demo`` first) and cached under ``bench-out/heads_real/<dataset>/``. Every head is then
trained by the train stage's code (:func:`framecache.training.train_head`, ``train.evaluation: group_kfold`` with
``train.folds`` folds, one per group when there are fewer groups) and written by its writers
(:func:`framecache.training.write_outputs`); the report's code reads those folders back
(:func:`framecache.report.results.load_heads`) and compares them (:func:`framecache.report.comparison.compare`: top-1
with its cluster-aware interval, within-pair accuracy on the demo's pairs). So the numbers are the ones ``dvc repro``
would report with these settings. A head whose folder already holds the outputs of the same settings is not trained
again (delete ``bench-out/heads_real`` to start over).

Rows: ``before`` is the recipe of params.yaml before issue 19 (BEFORE below), ``after`` today's defaults; every other
row is ``after`` with one lever changed (LEVERS). The order-blind heads do not change between rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.markdown import write_section  # noqa: E402
from benchmarks.real_tables import SETS, render  # noqa: E402
from framecache import heads as registry  # noqa: E402
from framecache import layout  # noqa: E402
from framecache.config.params import load_params  # noqa: E402
from framecache.data.class_pairs import read_class_pairs  # noqa: E402
from framecache.evaluation.intervals import exact_interval  # noqa: E402
from framecache.features.store import FeatureStore  # noqa: E402
from framecache.report.build import class_pairs  # noqa: E402
from framecache.report.comparison import compare  # noqa: E402
from framecache.report.results import load_heads, read_groups  # noqa: E402
from framecache.training import train_head, write_outputs  # noqa: E402

OUT = ROOT / "bench-out" / "heads_real"
# the torch heads' settings before issue 19 (params.yaml then): no residual pooled head, the last state read out
# (the transformer: the mean), a dropout grid of three, patience 10
BEFORE = {
    "residual_pooling": "none",
    "readout": ["last"],
    "dropout_grid": [0.1, 0.5],
    "patience": 10,
    "max_epochs": 100,
}
BEFORE_BY_TYPE = {"transformer": {"readout": ["mean"]}, "attention": {}}
# one lever changed from today's defaults per row
LEVERS: dict[str, dict[str, Any]] = {
    "no_residual": {"residual_pooling": "none"},
    "residual_min": {"residual_pooling": "min"},
    "readout_last": {"readout": ["last"]},
    "dropout_grid": {"dropout_grid": [0.1, 0.5]},
    "label_smoothing": {"label_smoothing": 0.1},
    "augment": {"augment_speed": 1.25, "augment_crop": 0.8, "augment_drop": 0.1},
    "lr_warmup": {"lr": 0.01, "warmup_epochs": 2},
    "hidden_32": {"hidden": 32},
    "seeds_3": {"seeds": 3},
    "seeds_5": {"seeds": 5},
    "patience_10": {"patience": 10, "max_epochs": 100},
}


def prepare_dataset_once(name: str, params: Any) -> Path:
    """The dataset's feature store under bench-out (written by the library's stages the first time)."""
    from framecache.data.prepare import prepare_dataset
    from framecache.features.launch import ExtractPaths, run_extract_command

    root = OUT / name
    store = layout.store_path(root / "features", params["extract"]["backbone"])
    if store.is_file():
        return root
    dataset = ROOT / SETS[name]["path"] if SETS[name]["path"] else root / "videos"
    if name == "demo":
        from framecache.data.demo import write_demo

        write_demo(dataset, seed=params["seed"], **params["demo"])
    prepare_dataset(dataset, root / "prepared", params)
    (root / "features").mkdir(parents=True, exist_ok=True)
    feats = root / "features"
    paths = ExtractPaths(root / "prepared" / layout.MANIFEST, root / "prepared" / layout.CLASSES, store,
                         feats / layout.FAILURES, feats / layout.METRICS)  # fmt: skip
    run_extract_command(params["extract"], paths, module="stages.extract", argv=[])
    return root


def variant_config(params: Any, head: str, variant: str) -> dict[str, Any]:
    """``heads.<head>`` of params.yaml, changed as the variant says (torch heads only)."""
    config = params["heads"][head].to_dict()
    if not registry.uses_torch(config) or variant == "after":
        return config
    change = {**BEFORE, **BEFORE_BY_TYPE.get(config["type"], {})} if variant == "before" else dict(LEVERS[variant])
    if config["type"] == "attention":
        change.pop("readout", None)
    elif config["type"] == "transformer" and change.get("readout") == ["last"]:
        change["readout"] = ["mean"]
    return {**config, **{k: v for k, v in change.items() if k in config}}


def train_once(root: Path, params: Any, head: str, config: dict[str, Any], folder: Path) -> float:
    """Train ``head`` as configured into ``folder`` unless it holds this configuration's outputs; the fit seconds."""
    train = params["train"]
    key = json.dumps({"config": config, "seed": params["seed"], "folds": train["folds"]}, sort_keys=True)
    stamp = folder / "benchmark_config.json"
    if stamp.is_file() and stamp.read_text() == key and (folder / layout.PREDICTIONS).is_file():
        return json.loads((folder / layout.METRICS).read_text())["fit_seconds"]
    store = layout.store_path(root / "features", params["extract"]["backbone"])
    with FeatureStore.open(store) as fs:
        classes, seqs = list(fs.classes), fs.load()
    folds = min(train["folds"], len(set(seqs.group)))
    result = train_head(
        head, config, seqs.ids, seqs.X, seqs.y, seqs.split, classes, repeats=train["repeats"], seed=params["seed"],
        device=train["device"], threads=train["cpu_threads"], evaluation="group_kfold", folds=folds, groups=seqs.group,
        jobs=train["jobs"],
    )  # fmt: skip
    write_outputs(result, folder)
    stamp.write_text(key)
    return result.summary()["fit_seconds"]


def score(root: Path, params: Any, variant: str, names: list[str]) -> dict[str, Any]:
    """Train every head for the variant (order-blind ones are shared by all variants) and compare them as the
    report does; returns per head its top-1 interval, within-pair accuracy and fit seconds."""
    models, configs, seconds = root / "models" / variant, {}, {}
    for head in names:
        config = variant_config(params, head, variant)
        shared = not registry.uses_torch(config)
        folder = (root / "models" / "shared" if shared else models) / head
        seconds[head] = train_once(root, params, head, config, folder)
        configs[head] = config
        if shared:  # the report reads every head from one folder
            (models / head).mkdir(parents=True, exist_ok=True)
            for f in folder.glob("*.*"):
                (models / head / f.name).write_bytes(f.read_bytes())
    prepared = root / "prepared"
    results, classes = load_heads(models, names, configs, layout.read_classes(prepared / layout.CLASSES))
    rep = params["report"]
    pairs = class_pairs(rep["class_pairs"], read_class_pairs(prepared / layout.CLASS_PAIRS))
    cmp = compare(results, classes, pairs, rep["bootstrap"], rep["confidence"], params["seed"], read_groups(prepared))
    out = {}
    for row in cmp.rows:
        if row["status"] == "ok":
            keep = ("top1", "top1_low", "top1_high", "order_pairs", "order_blind", "test_videos", "test_groups")
            out[row["head"]] = {k: row.get(k) for k in keep}
            # with too few test groups the report gives no interval; the exact one over videos is what remains
            n = int(row["test_videos"])
            out[row["head"]]["exact"] = exact_interval(round(row["top1"] * n), n, rep["confidence"])
            out[row["head"]]["fit_seconds"] = seconds[row["head"]]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--datasets", default=",".join(SETS), help="comma-separated, of " + ", ".join(SETS))
    ap.add_argument("--levers", default=None, help="rows besides before/after (default: all of LEVERS)")
    ap.add_argument("--demo-levers", default="no_residual,readout_last,seeds_3,seeds_5",
                    help="lever rows run on the demo (its folds cost the most)")  # fmt: skip
    ap.add_argument("--write", action="store_true", help="update the Heads on real data section of BENCHMARKS.md")
    args = ap.parse_args(argv)
    params = load_params(ROOT / args.params)
    names = list(params["train"]["heads"])
    levers = args.levers.split(",") if args.levers is not None else list(LEVERS)
    results: dict[str, dict[str, Any]] = {}
    start, load = time.perf_counter(), os.getloadavg()[0]
    for ds in args.datasets.split(","):
        root = prepare_dataset_once(ds, params)
        rows = levers if ds != "demo" else [v for v in levers if v in args.demo_levers.split(",")]
        results[ds] = {}
        for variant in ["before", "after", *[r for r in rows if r]]:
            results[ds][variant] = score(root, params, variant, names)
            print(f"{ds} {variant}: " + ", ".join(f"{h} {r['top1']:.3f}" for h, r in results[ds][variant].items()
                                                if not r["order_blind"]), flush=True)  # fmt: skip
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    command = "uv run python -m benchmarks.heads_real " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(results, params, LEVERS, command.strip(), time.perf_counter() - start, (load, os.getloadavg()[0]))
    print(text)
    if args.write:
        write_section("heads_real", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
