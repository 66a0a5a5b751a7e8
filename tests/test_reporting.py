"""Tests for framecache.report.reporting: a report built from fixture train outputs (written here in the exact
per-head contract of docs/ARCHITECTURE.md) has every head, column, section and file, and says true things."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from framecache.evaluation import statistics
from framecache.evaluation.metrics import classification_metrics
from framecache.report import reporting

APPEARANCE = ["cat", "coffee", "astronaut", "rocket"]
PAIRS = [["zoom_in", "zoom_out"], ["rotate_cw", "rotate_ccw"], ["fade_in", "fade_out"]]
CLASSES = APPEARANCE + [c for p in PAIRS for c in p]
PARTNER = {a: b for a, b in PAIRS} | {b: a for a, b in PAIRS}

# name -> (head spec, accuracy on appearance videos, within-pair accuracy on order-only videos)
HEADS = {
    "pool_mean": ({"type": "pooled", "pooling": "mean"}, 0.95, 0.5),
    "svm_linear": ({"type": "svm", "kernel": "linear", "pooling": "mean"}, 0.9, 0.5),
    "pool_delta": ({"type": "pooled", "pooling": "delta"}, 0.8, 0.85),
    "lstm": ({"type": "lstm", "hidden": 16}, 0.95, 1.0),
    "transformer": ({"type": "transformer"}, 0.9, 0.95),
}


def simulate_proba(labels: list[str], acc_app: float, acc_pair: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities whose argmax is right with the given rates; an order-only mistake picks the partner."""
    c = len(CLASSES)
    out = np.empty((len(labels), c))
    for i, lab in enumerate(labels):
        p = rng.random(c) * 0.5
        if lab in PARTNER:
            pick = lab if rng.random() < acc_pair else PARTNER[lab]
        else:
            pick = lab if rng.random() < acc_app else rng.choice([x for x in APPEARANCE if x != lab])
        p[CLASSES.index(pick)] += 3.0
        out[i] = p / p.sum()
    return out


def write_fixture(
    root: Path,
    heads: dict | None = None,
    per_class: int = 6,
    repeats: int = 1,
    seed: int = 0,
    label_as_index: bool = False,
) -> dict[str, Path]:
    """prepared/, features/ and models/<head>/ as the earlier stages write them; returns the folders."""
    heads = HEADS if heads is None else heads
    rng = np.random.default_rng(seed)
    prepared, features, models = root / "prepared", root / "features", root / "models"
    for d in (prepared, features, models):
        d.mkdir(parents=True, exist_ok=True)
    manifest = []
    for c in CLASSES:
        for split, n in (("train", per_class), ("val", per_class // 2), ("test", per_class)):
            for j in range(n):
                manifest.append({"video_id": f"{c}/{split}_{j:02d}.mp4", "label": c, "split": split})
    pd.DataFrame(manifest).assign(
        path=lambda d: "data/demo/videos/" + d["video_id"], label_index=lambda d: d["label"].map(CLASSES.index)
    ).to_csv(prepared / "manifest.csv", index=False)
    (prepared / "classes.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    (prepared / "failures.csv").write_text("path,reason\nbroken.mp4,no video stream\n")
    (prepared / "summary.json").write_text(json.dumps({"source": "manifest", "split_source": "generated",
                                                       "videos": len(manifest), "classes": len(CLASSES),
                                                       "failures": 1}))  # fmt: skip
    (features / "metrics.json").write_text(json.dumps({"videos": len(manifest), "frames": 16 * len(manifest),
                                                       "failures": 0, "frames_per_second": 41.5,
                                                       "decode_seconds": 3.2, "model_seconds": 20.1,
                                                       "device": "cpu"}))  # fmt: skip
    (features / "failures.csv").write_text("path,reason\n")
    evald = [m for m in manifest if m["split"] in ("val", "test")]
    for name, (spec, acc_app, acc_pair) in heads.items():
        folder = models / name
        folder.mkdir(parents=True, exist_ok=True)
        rows, per_repeat = [], []
        for r in range(repeats):
            proba = simulate_proba([m["label"] for m in evald], acc_app, acc_pair, rng)
            for m, p in zip(evald, proba, strict=True):
                pred = CLASSES[int(np.argmax(p))]
                label = CLASSES.index(m["label"]) if label_as_index else m["label"]
                predicted = CLASSES.index(pred) if label_as_index else pred
                probs = {f"p_{c}": float(v) for c, v in zip(CLASSES, p, strict=True)}
                rows.append({"video_id": m["video_id"], "split": m["split"], "repeat": r, "label": label,
                             "predicted": predicted, **probs})  # fmt: skip
            test = [i for i, m in enumerate(evald) if m["split"] == "test"]
            y = np.array([CLASSES.index(evald[i]["label"]) for i in test])
            per_repeat.append(classification_metrics(y, proba[test]))
        pd.DataFrame(rows).to_csv(folder / "predictions.csv", index=False)
        metrics = {}
        for k in ("top1", "top5", "mean_class_accuracy", "macro_f1", "log_loss"):
            metrics[f"test_{k}"] = float(np.mean([m[k] for m in per_repeat]))
            metrics[f"test_{k}_std"] = float(np.std([m[k] for m in per_repeat]))
        metrics.update({"val_top1": acc_app, "fit_seconds": 1.5, "inference_ms_per_video": 0.25,
                        "parameters": 12345, "repeats": repeats, "truncated_videos": 0})  # fmt: skip
        (folder / "metrics.json").write_text(json.dumps(metrics))
        with open(folder / "curve.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["repeat", "step", "train_loss", "val_loss", "val_accuracy"])
            if spec["type"] not in ("pooled", "svm"):
                for r in range(repeats):
                    for step in range(8):
                        w.writerow([r, step, 2.0 / (step + 1), 2.2 / (step + 1) + 0.1, min(1.0, 0.2 + 0.1 * step)])
        (folder / "model.pkl").write_bytes(b"not used by the report")
    return {"prepared": prepared, "features": features, "models": models}


def params_for(heads: dict | None = None, class_pairs=PAIRS, n_boot: int = 300, seed: int = 0) -> dict:
    heads = HEADS if heads is None else heads
    return {
        "seed": seed,
        "train": {"heads": list(heads)},
        "heads": {name: spec for name, (spec, _, _) in heads.items()},
        "report": {"bootstrap": n_boot, "confidence": 0.95, "class_pairs": class_pairs},
    }


def build(tmp_path: Path, params: dict | None = None, **fixture) -> tuple[dict, Path, dict[str, Path]]:
    dirs = write_fixture(tmp_path / "in", **fixture)
    params = params or params_for(fixture.get("heads"))
    out = tmp_path / "report"
    summary = reporting.build_report(
        params, dirs["prepared"], dirs["features"], dirs["features"] / "efficientnet_lite0.h5", dirs["models"], out
    )
    return summary, out, dirs


def comparison_of(dirs: dict[str, Path], params: dict) -> reporting.Comparison:
    """The analysis alone (no plots): cheap enough for variants."""
    names = params["train"]["heads"]
    heads = [reporting.load_head_result(dirs["models"], n, params["heads"][n], CLASSES)[0] for n in names]
    rep = params["report"]
    return reporting.compare(heads, CLASSES, rep["class_pairs"], rep["bootstrap"], rep["confidence"], params["seed"])


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """One full report of five heads, two repeats, 8 test videos per class (plots are the slow part)."""
    summary, out, dirs = build(tmp_path_factory.mktemp("full"), repeats=2, per_class=8)
    return summary, out, dirs


def test_report_has_every_head_column_and_file(full):
    summary, out, dirs = full
    comparison = pd.read_csv(out / "comparison.csv")
    assert list(comparison.columns) == reporting.COMPARISON_COLUMNS
    assert list(comparison["head"]) == list(HEADS)
    for col in ("top1", "top1_low", "top1_high", "top1_std", "top5", "mean_class_accuracy", "macro_f1",
                "above_chance_p", "order_pairs", "appearance", "fit_seconds", "inference_ms_per_video",
                "parameters"):  # fmt: skip
        assert comparison[col].notna().all(), col
    assert (comparison["top1_low"] <= comparison["top1"]).all()
    assert (comparison["top1"] <= comparison["top1_high"]).all()
    # every head but the baseline is compared with it
    base = comparison.loc[comparison["baseline"] == "(this head)", "head"].tolist()
    val_top1 = {}
    for name in ("pool_mean", "svm_linear"):  # the order-blind pooled heads: chosen on validation accuracy
        pred = pd.read_csv(dirs["models"] / name / "predictions.csv")
        val = pred[pred["split"] == "val"]
        val_top1[name] = (val["label"] == val["predicted"]).mean()
    assert val_top1["pool_mean"] != val_top1["svm_linear"]
    assert base == [max(val_top1, key=val_top1.get)]
    others = comparison[comparison["head"] != base[0]]
    assert others["mcnemar_p"].between(0, 1).all() and (others["baseline"] == base[0]).all()
    assert others["delta_top1"].notna().all()

    md = (out / "comparison.md").read_text()
    page = (out / "report.html").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| head |"))
    for name in HEADS:
        assert f"| {name}" in md
        assert name in page
        assert (out / "confusion" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for title in ("top-1", "top-5", "mean class acc.", "macro-F1", "log-loss", "above chance", "McNemar p",
                  "fit s", "ms/video", "parameters", "Δ top-1 vs baseline"):  # fmt: skip
        assert f"| {title} |" in header
        assert f"<th>{title}</th>" in page
    for section in ("Comparison", "Order-only pairs", "Per-class", "Confusion matrices", "Training curves",
                    "Dataset", "Feature extraction", "Videos per class and split", "Files left out by prepare",
                    "frames per second", "broken.mp4"):  # fmt: skip
        assert section in page

    per_class = pd.read_csv(out / "per_class.csv")
    assert list(per_class["class"]) == CLASSES
    assert list(per_class.columns) == ["class", "kind", "test_videos", *HEADS]
    assert (per_class["test_videos"] == 8).all()
    assert per_class.set_index("class").loc["zoom_out", "kind"] == "pair zoom_in / zoom_out"

    assert summary["best_head"] in HEADS
    assert set(summary["heads"]) == set(HEADS)
    assert json.loads((out / "summary.json").read_text()) == summary


def test_confusion_csv_is_actual_predicted_of_repeat_0(full):
    _, out, dirs = full
    pred = pd.read_csv(dirs["models"] / "lstm" / "predictions.csv")
    want = pred[(pred["split"] == "test") & (pred["repeat"] == 0)].sort_values("video_id")
    conf = pd.read_csv(out / "confusion" / "lstm.csv")
    assert list(conf.columns) == ["actual", "predicted"]
    assert list(conf["actual"]) == list(want["label"])
    assert list(conf["predicted"]) == list(want["predicted"])


def test_curves_drawn_for_trained_nets_only(full):
    _, out, _ = full
    assert (out / "curves" / "lstm.png").is_file()
    assert (out / "curves" / "transformer.png").is_file()
    assert not (out / "curves" / "pool_mean.png").exists()
    assert "No multi-step training curve" in (out / "report.html").read_text()


def test_headline_names_order_and_appearance_winners_with_cis(full):
    summary, out, _ = full
    cmp_rows = pd.read_csv(out / "comparison.csv").set_index("head")
    # order-blind heads sit near 50% within pairs; lstm is perfect there
    assert cmp_rows.loc["lstm", "order_pairs"] == 1.0
    assert cmp_rows.loc["pool_mean", "order_pairs_high"] < 0.8
    assert summary["order_pairs_best_head"] == "lstm"
    md = (out / "comparison.md").read_text()
    order_line = next(line for line in md.splitlines() if "order-only pairs" in line and "wins" in line)
    assert "**lstm** wins" in order_line and re.search(r"\d+\.\d% \[\d+\.\d, \d+\.\d\]", order_line)
    tied = order_line.split("Best order-blind")[0]
    assert "pool_mean" not in tied and "svm_linear" not in tied
    assert re.search(r"Best order-blind head here: (pool_mean|svm_linear), \d+\.\d% \[", order_line)
    app_line = next(line for line in md.splitlines() if "appearance classes" in line and "wins" in line)
    assert re.search(r"\d+\.\d% \[\d+\.\d, \d+\.\d\]", app_line)
    assert "above chance" in md


def test_within_pair_accuracy_ignores_other_classes():
    # One zoom_in test video whose overall argmax is "cat" but p(zoom_in) > p(zoom_out): right within the pair.
    classes = CLASSES
    p = np.full(len(classes), 0.01)
    p[classes.index("cat")] = 0.6
    p[classes.index("zoom_in")] = 0.2
    p[classes.index("zoom_out")] = 0.1
    q = np.full(len(classes), 0.01)
    q[classes.index("zoom_in")] = 0.1
    q[classes.index("zoom_out")] = 0.5
    df = pd.DataFrame(
        [{"video_id": "a", "split": "test", "repeat": 0, "label_index": classes.index("zoom_in")},
         {"video_id": "b", "split": "test", "repeat": 0, "label_index": classes.index("zoom_in")},
         {"video_id": "c", "split": "test", "repeat": 0, "label_index": classes.index("cat")}]
    )  # fmt: skip
    probs = pd.DataFrame([p, q, p], columns=[f"p_{c}" for c in classes])
    head = reporting.HeadResult("lstm", "lstm", False, False, predictions=pd.concat([df, probs], axis=1))
    cmp = reporting.compare([head], classes, PAIRS, n_boot=200, confidence=0.95, seed=0)
    row = cmp.row("lstm")
    assert row["order_pairs"] == pytest.approx(0.5)  # a right within the pair, b wrong
    assert row["top1"] == pytest.approx(1 / 3)  # only c is right overall
    assert row["appearance"] == pytest.approx(1.0)
    zoom = next(r for r in cmp.pair_rows if r["pair"] == "zoom_in / zoom_out")
    assert zoom["test_videos"] == 2 and zoom["accuracy"] == pytest.approx(0.5)
    rot = next(r for r in cmp.pair_rows if r["pair"] == "rotate_cw / rotate_ccw")
    assert rot["status"] == "no test videos"


TWO = {"pool_mean": HEADS["pool_mean"], "lstm": HEADS["lstm"]}


def test_absent_pair_is_listed_not_dropped(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    cmp = comparison_of(dirs, params_for(TWO, class_pairs=[*PAIRS, ["swim", "dive"]]))
    absent = [r for r in cmp.pair_rows if r["pair"] == "swim / dive"]
    assert len(absent) == len(TWO)
    assert all(r["status"] == "absent: swim, dive not a class of this dataset" for r in absent)
    assert "class pair swim / dive: absent: swim, dive not a class of this dataset" in cmp.problems
    page = reporting.render_html(cmp, reporting.Section(), reporting.Section(), {}, {})
    assert "<th>swim / dive</th>" in page and "absent: swim, dive not a class of this dataset" in page
    assert "swim / dive" in reporting.markdown_report(cmp)


def test_no_pair_present_is_said(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    cmp = comparison_of(dirs, params_for(TWO, class_pairs=[["swim", "dive"]]))
    assert cmp.order_winner is None and cmp.appearance_classes == CLASSES
    assert any("None of the class pairs" in line for line in reporting.headline(cmp))


def test_bad_class_pairs_are_rejected(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    with pytest.raises(reporting.FramecacheError, match="names 'cat' twice"):
        comparison_of(dirs, params_for(TWO, class_pairs=[["cat", "cat"]]))
    with pytest.raises(reporting.FramecacheError, match="one pair only"):
        comparison_of(dirs, params_for(TWO, class_pairs=[["cat", "coffee"], ["coffee", "rocket"]]))


def test_missing_head_outputs_are_visible_not_fatal(tmp_path):
    heads = {"lstm": HEADS["lstm"], "transformer": HEADS["transformer"]}
    dirs = write_fixture(tmp_path / "in", heads=heads)
    (dirs["models"] / "transformer" / "predictions.csv").unlink()
    (dirs["features"] / "metrics.json").unlink()
    out = tmp_path / "report"
    reporting.build_report(params_for(heads), dirs["prepared"], dirs["features"], tmp_path / "nope.h5",
                           dirs["models"], out)  # fmt: skip
    comparison = pd.read_csv(out / "comparison.csv").set_index("head")
    assert comparison.loc["transformer", "status"] == "missing"
    assert np.isnan(comparison.loc["transformer", "top1"])
    assert comparison.loc["lstm", "status"] == "ok"
    page = (out / "report.html").read_text()
    assert "transformer: predictions.csv missing" in page
    assert "transformer (missing)" in page
    # the store and extraction metrics were never written: the section says so instead of vanishing
    assert "feature store provenance unavailable" in page and "nope.h5" in page
    assert f"{dirs['features'] / 'metrics.json'} not found" in page
    assert not (out / "confusion" / "transformer.csv").exists()


def test_no_usable_head_is_an_error(tmp_path):
    dirs = write_fixture(tmp_path / "in", heads={"lstm": HEADS["lstm"]})
    (dirs["models"] / "lstm" / "predictions.csv").unlink()
    with pytest.raises(reporting.FramecacheError, match="run the train stages first"):
        reporting.build_report(params_for({"lstm": HEADS["lstm"]}), dirs["prepared"], dirs["features"],
                               tmp_path / "s.h5", dirs["models"], tmp_path / "out")  # fmt: skip


def test_report_is_deterministic(tmp_path):
    _, out1, _ = build(tmp_path / "one", heads=TWO, per_class=3)
    _, out2, _ = build(tmp_path / "two", heads=TWO, per_class=3)
    for name in ("comparison.csv", "comparison.md", "pairs.csv", "per_class.csv", "summary.json", "report.html"):
        # the (missing) store's path is named in the page and differs between the two folders
        one = (out1 / name).read_text().replace(str(tmp_path / "one"), "")
        assert one == (out2 / name).read_text().replace(str(tmp_path / "two"), ""), name
    for png in ("confusion/lstm.png", "curves/lstm.png"):
        assert (out1 / png).read_bytes() == (out2 / png).read_bytes(), png


def test_seed_drives_the_bootstrap(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    a = comparison_of(dirs, params_for(TWO, seed=0)).row("pool_mean")
    b = comparison_of(dirs, params_for(TWO, seed=0)).row("pool_mean")
    c = comparison_of(dirs, params_for(TWO, seed=1)).row("pool_mean")
    assert a == b
    assert a["top1"] == c["top1"] and a["macro_f1"] == c["macro_f1"]
    bounds = ("top1_low", "top1_high", "macro_f1_low", "macro_f1_high", "order_pairs_low", "order_pairs_high")
    assert [a[k] for k in bounds] != [c[k] for k in bounds]


def test_repeat_means_match_the_train_stage_metrics(full):
    _, out, dirs = full
    comparison = pd.read_csv(out / "comparison.csv").set_index("head")
    metrics = json.loads((dirs["models"] / "lstm" / "metrics.json").read_text())
    # same definitions as the train stage's metrics.json
    for m in ("top1", "top5", "mean_class_accuracy", "macro_f1", "log_loss"):
        assert comparison.loc["lstm", m] == pytest.approx(metrics[f"test_{m}"], abs=1e-5), m
        assert comparison.loc["lstm", f"{m}_std"] == pytest.approx(metrics[f"test_{m}_std"], abs=1e-5), m
    assert comparison.loc["lstm", "repeats"] == 2
    assert "±" in (out / "comparison.md").read_text()


def test_integer_labels_read_like_names(tmp_path):
    a = comparison_of(write_fixture(tmp_path / "a", heads=TWO), params_for(TWO))
    b = comparison_of(write_fixture(tmp_path / "b", heads=TWO, label_as_index=True), params_for(TWO))
    assert a.rows == b.rows


def test_predictions_with_wrong_classes_are_rejected(tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text("video_id,split,repeat,label,predicted,p_cat,p_dog\na,test,0,cat,cat,0.9,0.1\n")
    with pytest.raises(reporting.FramecacheError, match=r"extra: \['dog'\]"):
        reporting.read_predictions(path, ["cat", "coffee"])
    path.write_text("video_id,split,label,p_cat\na,test,cat,1.0\n")
    with pytest.raises(reporting.FramecacheError, match="missing column"):
        reporting.read_predictions(path, ["cat"])


def test_tests_in_the_table_match_statistics(full):
    _, _, dirs = full
    classes = CLASSES
    heads = [reporting.load_head_result(dirs["models"], n, s, classes)[0] for n, (s, _, _) in HEADS.items()]
    cmp = reporting.compare(heads, classes, PAIRS, n_boot=300, confidence=0.95, seed=0)
    y = cmp.y_test
    _, _, p_lstm = reporting._aligned(heads[3], "test", cmp.test_ids)
    _, _, p_base = reporting._aligned(next(h for h in heads if h.name == cmp.baseline), "test", cmp.test_ids)
    mc = statistics.mcnemar(p_lstm[0].argmax(1) == y, p_base[0].argmax(1) == y)
    row = cmp.row("lstm")
    assert (row["mcnemar_head_only"], row["mcnemar_baseline_only"], row["mcnemar_p"]) == (
        mc.only_a,
        mc.only_b,
        mc.p_value,
    )
    chance = statistics.above_chance(p_lstm[0].argmax(1) == y, statistics.chance_rate(y, len(classes)))
    assert row["above_chance_p"] == chance.p_value and row["above_chance"] == chance.above
    assert row["chance"] == pytest.approx(0.1)  # ten balanced classes


def test_order_blindness_of_head_specs():
    assert reporting.is_order_blind({"type": "pooled", "pooling": "maxmin"})
    assert not reporting.is_order_blind({"type": "pooled", "pooling": "delta"})
    assert not reporting.is_order_blind({"type": "svm", "pooling": "maxmin_delta"})
    assert reporting.is_order_blind({"type": "attention", "positional": False})
    assert not reporting.is_order_blind({"type": "attention"})
    for kind in ("rnn", "lstm", "gru", "transformer"):
        assert not reporting.is_order_blind({"type": kind})
    assert reporting.is_baseline_candidate({"type": "svm", "pooling": "mean"})
    assert not reporting.is_baseline_candidate({"type": "attention", "positional": False})


def test_html_is_self_contained(full):
    _, out, _ = full
    page = (out / "report.html").read_text()
    srcs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in page and "https://" not in page
    assert page.count("<img") == len(HEADS) + 2  # confusion matrices + two trained nets' curves


def test_extraction_section_reads_the_store(tmp_path):
    from framecache.features.store import EXTRACTOR_VERSION, SCHEMA_VERSION, StoreWriter, VideoFeatures

    prov = {
        "schema_version": SCHEMA_VERSION, "extractor_version": EXTRACTOR_VERSION,
        "backbone": "efficientnet_lite0", "weights_sha256": "ab" * 32, "k": 4,
        "dtype": "float16", "preprocessing": {"resize": 256, "crop": 224},
        "sampling": {"policy": "uniform", "num_frames": 3},
    }  # fmt: skip
    path = tmp_path / "efficientnet_lite0.h5"
    with StoreWriter(path, prov, ["cat", "dog"], extra_attrs={"compute": {"device": "cpu"}}) as w:
        for vid, t, policy, split in (("a.mp4", 3, "full", "train"), ("b.mp4", 2, "keep", "test")):
            w.append(VideoFeatures(vid, np.zeros((t, 4)), np.arange(t), np.arange(t) / 25.0, label=0,
                                   split=split, policy=policy))  # fmt: skip
    (tmp_path / "metrics.json").write_text(json.dumps({"frames_per_second": 33.3333, "device": "cpu"}))
    sec = reporting.extraction_section(tmp_path, path)
    facts = dict(sec.facts)
    assert sec.missing == [f"{tmp_path / 'failures.csv'} not found"]
    assert facts["store: backbone"] == "efficientnet_lite0"
    assert facts["store: sampling"] == "num_frames=3, policy=uniform"
    assert facts["store: compute"] == "device=cpu"
    assert facts["store: videos"] == "2"
    assert facts["store: frames per video (min / median / max)"] == "2 / 2.5 / 3"
    assert facts["frames per second"] == "33.33"
    ((title, outcome),) = sec.tables
    assert title.startswith("Sampling outcome")
    assert outcome.set_index("policy").loc["keep", "test"] == 1


def test_head_without_test_rows_is_left_out_visibly(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    path = dirs["models"] / "lstm" / "predictions.csv"
    pred = pd.read_csv(path)
    pred[pred["split"] != "test"].to_csv(path, index=False)
    cmp = comparison_of(dirs, params_for(TWO))
    assert cmp.row("lstm")["status"] == "missing" and cmp.row("pool_mean")["status"] == "ok"
    assert "lstm: predictions.csv has no test rows: head left out of the comparison" in cmp.problems
