"""A feature store's *provenance*: what it was built with, and how two provenances differ.

A store whose provenance differs from what the params ask for is stale. :func:`configured_provenance` is the
part the ``extract`` params decide on their own — checking it needs neither torch nor the weights file, so
train and report refuse a stale store cheaply. The extract stage checks the full provenance, weights
checksum included (:func:`framecache.features.inputs.expected_provenance`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from framecache.features.codeversion import code_version
from framecache.video.sampling import Sampling

SCHEMA_VERSION = 1
# Derived from the source of the decoding, sampling, preprocessing and backbone code (features.codeversion):
# stores (and journal parts) built by other code count as stale instead of being reused, with no bump to forget.
EXTRACTOR_VERSION = code_version()
# Provenance recorded since a later version: a store without one was built the only way there was then
# (decoded on the CPU: NVDEC came later).
PROVENANCE_DEFAULTS = {"decoder": "cpu"}
PROVENANCE_KEYS = (
    "schema_version",
    "extractor_version",
    "backbone",
    "weights_sha256",
    "k",
    "dtype",
    "preprocessing",
    "sampling",
)
# The fields that decide the feature values (the schema is the file's layout): a head trained on a store records
# them, and predict refuses a store whose features differ in any (framecache.inference).
FEATURE_KEYS = tuple(k for k in PROVENANCE_KEYS if k != "schema_version")


def configured_provenance(extract: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a store's provenance that the ``extract`` params decide on their own."""
    expect: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "extractor_version": EXTRACTOR_VERSION,
        "backbone": extract["backbone"],
        "dtype": extract["dtype"],
        "sampling": Sampling.from_params(extract).as_dict(),
    }
    if extract.get("image_size"):
        expect["preprocessing"] = {"crop": int(extract["image_size"])}
    if extract.get("decoder") in ("cpu", "nvdec"):  # auto depends on the host: extract checks what it resolves to
        expect["decoder"] = extract["decoder"]
    return expect


def provenance_diff(
    actual: Mapping[str, Any], expect: Mapping[str, Any], have: str = "store has", want: str = "params want"
) -> list[str]:
    """Human-readable differences, one per (nested) field of ``expect`` that ``actual`` lacks or differs in:
    ``<field>: <have> <actual value>, <want> <expected value>``.

    Fields ``expect`` does not name are not compared, so a partial ``expect`` checks just those fields.
    """
    out: list[str] = []

    def walk(a: Any, e: Any, key: str) -> None:
        if isinstance(e, Mapping) and isinstance(a, Mapping):
            for k in sorted(e):
                walk(a.get(k, "<absent>"), e.get(k, "<absent>"), f"{key}.{k}" if key else str(k))
        elif _norm(a) != _norm(e):
            out.append(f"{key}: {have} {a!r}, {want} {e!r}")

    for k in expect:
        walk(actual.get(k, "<absent>"), expect[k], k)
    return out


def _norm(v: Any) -> Any:
    # JSON round trips turn tuples into lists and ints into floats where they were floats; compare by value
    if isinstance(v, list | tuple):
        return [_norm(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, np.generic):
        return _norm(v.item())
    return v
