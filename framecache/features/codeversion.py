"""The version of the code that defines the features, derived from that code itself: a hash of the source of
the modules that decide which frames are decoded and how they become a backbone's input and output —
container demuxing, seeking, decoding, the decoders' choice, sampling, frame geometry, the backbone registry with its
preprocessing, the backbone build, and the batching and embedding around the forward pass.

It is recorded in a store's provenance (``extractor_version``), so a store built by other code is stale by
construction: nobody has to remember to bump a constant. The source is read from the files (nothing is
imported, so params validation, train and report stay free of torch and PyAV) and parsed, so comments,
docstrings and formatting do not count: reformatting a file leaves every store valid, changing what it
does makes every store stale once.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the framecache package folder

# The modules whose code decides the features (relative to the package). A test checks that every framecache
# module these import is listed here or in NOT_FEATURE_CODE.
FEATURE_CODE = (
    "video/container.py",
    "video/seeking.py",
    "video/decode.py",
    "video/sampling.py",
    "video/frames.py",
    "video/decoders.py",
    "video/nvdec.py",
    "backbones/specs.py",
    "backbones/build.py",
    "features/batching.py",
    "features/embed.py",
)
# Imported by the modules above without deciding a feature value: errors and messages, where the weights
# file is (its checksum is a provenance field of its own), devices, names of backbones, the decode workers
# and their pool (they move decoded frames between processes unchanged; the FFmpeg threads they pick give the
# same frames; which decoder a video gets is the provenance's ``decoder``, and a fallback is in its note).
NOT_FEATURE_CODE = (
    "features/workers.py",
    "features/pool.py",
    "errors.py",
    "compute.py",
    "backbones/weights.py",
    "backbones/fetch.py",
    "backbones/names.py",
    "video/probe.py",
    "features/precision.py",  # labels the precision and advises predict; the stage's is embed.resolve_amp
)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return tree


def source_digest(files: tuple[str, ...] = FEATURE_CODE, package: Path = PACKAGE) -> str:
    """sha256 over the parsed source (comments, docstrings and layout left out) of ``files``, in order."""
    digest = hashlib.sha256()
    for rel in files:
        tree = _without_docstrings(ast.parse((package / rel).read_text(encoding="utf-8"), filename=rel))
        digest.update(rel.encode() + b"\0" + ast.dump(tree, annotate_fields=False).encode() + b"\0")
    return digest.hexdigest()


@functools.cache
def code_version() -> int:
    """The features' code version: the first 48 bits of :func:`source_digest` as an integer (an HDF5
    attribute and a JSON number alike)."""
    return int(source_digest()[:12], 16)
