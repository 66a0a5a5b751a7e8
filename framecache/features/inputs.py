"""Step 1 of extraction, reading the inputs: the prepared manifest and classes (checked, with messages that
say what to run), and the provenance the store must have for the current ``extract`` params.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecache import layout
from framecache.backbones import specs, weights
from framecache.compute import resolve_device
from framecache.errors import FramecacheError
from framecache.features.provenance import configured_provenance
from framecache.features.store import VideoFeatures
from framecache.video.decoders import resolve_decoder


@dataclass
class ExtractInputs:
    """What one extraction run works from: the manifest rows (a DataFrame of strings, in manifest order),
    the class names and the full provenance the store must have."""

    manifest: Any
    classes: list[str]
    expect: dict[str, Any]

    def __len__(self) -> int:
        return len(self.manifest)


def read_inputs(extract: Mapping[str, Any], manifest: str | Path, classes: str | Path) -> ExtractInputs:
    return ExtractInputs(read_manifest(Path(manifest)), read_classes(Path(classes)), expected_provenance(extract))


def expected_provenance(extract_params: Mapping[str, Any]) -> dict[str, Any]:
    """What a feature store must have been built with to be valid for these ``extract`` params.

    Needs the backbone's weights file (its checksum is part of the provenance); raises FramecacheError
    saying where to place it when it is missing. The decoder is the one ``extract.decoder`` resolves to here.
    """
    name = extract_params["backbone"]
    spec = specs.get_spec(name)
    device = resolve_device(extract_params.get("device", "auto"), "extract.device")
    return {
        **configured_provenance(extract_params),
        "decoder": resolve_decoder(extract_params.get("decoder", "auto"), device),
        "weights_sha256": weights.weights_sha256(name),
        "k": spec.k,
        "preprocessing": specs.preprocessing_for(name, extract_params.get("image_size")).as_dict(),
    }


def read_manifest(path: Path) -> Any:
    """The manifest as strings (a hand-written one may leave the probe columns out, not the required ones)."""
    import pandas as pd

    if not path.is_file():
        raise FramecacheError(f"manifest {path} not found: run `dvc repro prepare` first")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise FramecacheError(f"manifest {path} cannot be read as CSV: {exc}") from None
    missing = [c for c in layout.MANIFEST_REQUIRED if c not in df.columns]
    if missing:
        raise FramecacheError(
            f"manifest {path} lacks column(s) {', '.join(missing)}; expected at least "
            f"{', '.join(layout.MANIFEST_REQUIRED)}"
        )
    if df["video_id"].duplicated().any():
        dup = df.loc[df["video_id"].duplicated(), "video_id"].iloc[0]
        raise FramecacheError(f"manifest {path}: video_id {dup!r} appears more than once")
    return df


def read_classes(path: Path) -> list[str]:
    if not path.is_file():
        raise FramecacheError(f"classes file {path} not found: run `dvc repro prepare` first")
    return layout.read_classes(path)


def with_manifest_row(video: VideoFeatures, manifest: Any, pos: int, sha: str) -> VideoFeatures:
    """``video`` labelled with manifest row ``pos`` (identity, label, split, group) and content hash ``sha``:
    the manifest, not an earlier store, decides what a reused video is called and where it belongs."""
    label = manifest["label_index"].iat[pos]
    return dataclasses.replace(
        video,
        video_id=manifest["video_id"].iat[pos],
        path=manifest["path"].iat[pos],
        label=int(label) if str(label).strip() else -1,
        split=manifest["split"].iat[pos],
        group=manifest["group"].iat[pos],
        sha256=sha,
    )
