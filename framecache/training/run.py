"""The train stage's work: train one head configured in params on the feature store and write its outputs.

The store is opened with the params-only freshness check: loading the backbone to hash its weights would cost
more than most heads' fits, and the extract stage has already checked them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from framecache.errors import FramecacheError, did_you_mean
from framecache.features.store import FeatureStore, configured_provenance
from framecache.training.outputs import write_outputs
from framecache.training.protocol import train_head


def train_from_store(params: Mapping[str, Any], head: str, store: str | Path, out: str | Path) -> dict[str, Any]:
    """Train ``heads.<head>`` with the ``train`` and ``seed`` params on ``store``; write the outputs into ``out``
    and return the metrics summary (what metrics.json holds)."""
    defined = list(params["heads"])
    if head not in defined:
        raise FramecacheError(
            f"--head {head!r} is not defined under heads{did_you_mean(head, defined)}; defined: {', '.join(defined)}"
        )
    with FeatureStore.open(store, expect=configured_provenance(params["extract"])) as feature_store:
        classes = list(feature_store.classes)
        seqs = feature_store.load()
        # model.pkl records the features it is fitted on: predict refuses a store whose features differ
        trained_on = {**feature_store.provenance, "store": str(store)}
    train = params["train"]
    result = train_head(
        head,
        dict(params["heads"][head]),
        seqs.ids,
        seqs.X,
        seqs.y,
        seqs.split,
        classes,
        repeats=train["repeats"],
        seed=params["seed"],
        device=train["device"],
        threads=train["cpu_threads"],
        evaluation=train["evaluation"],
        folds=train["folds"],
        groups=seqs.group,
        jobs=train["jobs"],
    )
    write_outputs(result, out, trained_on)
    return result.summary()
