"""What the report says about its inputs: the dataset section from prepare's files and the extraction section
from the feature store and extract's files (missing ones listed, not fatal)."""

from __future__ import annotations

import json

import numpy as np

from framecache import layout
from framecache.report.inputs import dataset_facts, extraction_facts
from tests.builders import write_store
from tests.report.train_outputs import CLASSES, TWO, write_fixture


def test_extraction_section_reads_the_store(tmp_path):
    prov = {
        "schema_version": 0, "extractor_version": "0", "backbone": "efficientnet_lite0",
        "weights_sha256": "ab" * 32, "k": 4, "dtype": "float16", "preprocessing": {"resize": 256, "crop": 224},
        "sampling": {"policy": "uniform", "num_frames": 3},
    }  # fmt: skip
    path = tmp_path / "efficientnet_lite0.h5"
    write_store(path, prov, ["cat", "dog"], [("a.mp4", np.zeros((3, 4)), 0, "train"),
                                             ("b.mp4", np.zeros((2, 4)), 0, "test")])  # fmt: skip
    (tmp_path / layout.METRICS).write_text(json.dumps({"frames_per_second": 33.3333, "device": "cpu"}))
    sec = extraction_facts(tmp_path, path)
    facts = dict(sec.facts)
    assert sec.missing == [f"{tmp_path / layout.FAILURES} not found"]
    assert facts["store: backbone"] == "efficientnet_lite0"
    assert facts["store: sampling"] == "num_frames=3, policy=uniform"
    assert facts["store: videos"] == "2"
    assert facts["store: frames per video (min / median / max)"] == "2 / 2.5 / 3"
    assert facts["frames per second"] == "33.33"
    ((title, outcome),) = sec.tables
    assert title.startswith("Sampling outcome")
    assert outcome.set_index("policy").loc["total", ["train", "test", "total"]].tolist() == [1, 1, 2]


def test_unreadable_store_is_listed_as_missing(tmp_path):
    sec = extraction_facts(tmp_path, tmp_path / "nope.h5")
    assert sec.missing[0].startswith(f"feature store provenance unavailable ({tmp_path / 'nope.h5'})")
    assert sec.missing[1:] == [f"{tmp_path / layout.METRICS} not found", f"{tmp_path / layout.FAILURES} not found"]


def test_dataset_section_counts_videos_per_class_and_split(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO, per_class=4)
    sec = dataset_facts(dirs["prepared"], [])
    assert sec.missing == []
    assert dict(sec.facts)["split source"] == "generated"
    assert dict(sec.facts)["Files left out by prepare"] == "1"
    (title, counts), (_, failures) = sec.tables
    assert title == "Videos per class and split"
    assert list(counts.columns) == ["class", *layout.SPLITS, "total"]
    assert list(counts["class"]) == [*CLASSES, "total"]
    assert counts.set_index("class").loc["cat"].tolist() == [4, 2, 4, 10]
    assert failures["path"].tolist() == ["broken.mp4"]
