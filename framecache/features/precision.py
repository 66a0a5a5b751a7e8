"""How a feature store's videos were computed (device type and autocast dtype, recorded per video as
``cpu/fp32``, ``cuda/bfloat16``), which precision predict uses to compute new videos the same way, and how far
features computed another way lie from them: the figure predict's warning gives (:data:`PRECISION_GAP`,
measured by ``benchmarks/precision.py``).

Not feature code (:mod:`framecache.features.codeversion`): the stage's own precision is
:func:`framecache.features.embed.resolve_amp`; these only label it and advise predict.
"""

from __future__ import annotations

from collections.abc import Collection

import torch

# The largest relative difference (per frame, |f - f_fp32| / |f_fp32|, L2 norms, after rounding to float16 as a
# store holds it) between features computed under autocast to this dtype and CPU fp32 features of the same frames:
# benchmarks/precision.py on the demo's clips with the default backbone (BENCHMARKS.md, "Precision"), measured on
# CPU autocast, which stands in for the GPU's until a CUDA host runs it (CUDA bf16 vs CPU fp32 is not measured).
# Measured: bf16 0.169 (median 0.054), fp16 0.022 (median 0.007), 160 frames.
PRECISION_GAP = {"bfloat16": 0.17, "float16": 0.022}


def compute_label(device: torch.device, amp: torch.dtype | None) -> str:
    """How features are computed, as a store records it per video: ``<device type>/<fp32 | autocast dtype>``."""
    return f"{device.type}/{'fp32' if amp is None else str(amp).removeprefix('torch.')}"


def matching_amp(
    device: torch.device, computed_as: Collection[str], default: torch.dtype | None = None
) -> torch.dtype | None:
    """The autocast dtype that computes features on ``device`` the way a store's were computed (its videos'
    ``compute`` labels): the store's own where it was computed on this device type, else fp32 (on CPU autocast
    is many times slower; on a GPU fp32 is the closest to a CPU-fp32 store). No labels (a store from before they
    were recorded): ``default`` (predict passes what extract's ``amp: auto`` picks)."""
    if not any(computed_as):
        return default
    precisions = sorted({c.split("/")[1] for c in computed_as if c.startswith(f"{device.type}/")})
    if device.type != "cuda" or not precisions or precisions[0] == "fp32":
        return None
    return getattr(torch, precisions[0])


def precision_warning(mine: str, computed_as: Collection[str]) -> str | None:
    """One line saying how far features computed as ``mine`` lie from a store's computed otherwise (None when
    they are computed the same way)."""
    others = sorted(set(computed_as) - {mine, ""})
    if not others:
        return None
    gaps = [PRECISION_GAP[p] for p in {c.split("/")[1] for c in [mine, *others]} if p in PRECISION_GAP]
    size = (
        f"by up to about {max(gaps):.0%} of a feature's norm (benchmarks/precision.py, CPU autocast standing in "
        "for a GPU's)" if gaps else "slightly (GPU and CPU fp32 kernels differ; not measured)"
    )  # fmt: skip
    return (
        f"features of these videos are computed as {mine}, the feature store's as {', '.join(others)}: they differ "
        f"{size}, so a prediction near a tie between two classes may differ from the head's on stored features"
    )
