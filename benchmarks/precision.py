"""How far features computed in another precision lie from CPU fp32 features (issue 18: precision in the
provenance). predict warns with this figure when it cannot compute new videos' features the way the store's
were computed (a store extracted on a GPU in bf16, predict on a laptop in fp32).

    uv run python -m benchmarks.precision [--clips-per-class 4] [--frames 4] [--cpu-fp16] [--write]

Frames: the demo's clips (its own synthesis and params, fewer clips per class), ``--frames`` sampled uniformly
per clip and preprocessed exactly as extract does for the default backbone (``efficientnet_lite0``, its real
weights, 224 px). Each batch is embedded on CPU in fp32 — the reference — and in every other precision this
machine has: CPU bf16 autocast (and fp16 with ``--cpu-fp16``: slow), the stand-ins for a GPU's on a machine
without one, and, where a GPU is present, CUDA fp32, bf16 and fp16 autocast, as the stage runs it
(``torch.autocast`` around normalisation and forward pass). Each feature is rounded through the store's dtype
(float16) as a store holds it. Per frame the relative difference ``|f - f_ref| / |f_ref|`` (L2 norms); printed:
max and median over frames per precision, one JSON object on the last line. ``--write`` puts the table into
BENCHMARKS.md ("Precision").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.markdown import write_section  # noqa: E402
from framecache.backbones.build import build_backbone  # noqa: E402
from framecache.config.params import load_params  # noqa: E402
from framecache.data.demo import write_demo  # noqa: E402
from framecache.video.decode import load_sample  # noqa: E402
from framecache.video.sampling import Sampling  # noqa: E402

BACKBONE = "efficientnet_lite0"
STORE_DTYPE = np.float16  # params' extract.dtype default: what a store holds


def demo_frames(clips_per_class: int, frames: int, geometry) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8: ``frames`` uniform samples of each demo clip, as extract decodes them."""
    demo = load_params(REPO / "params.yaml")["demo"]
    with tempfile.TemporaryDirectory() as tmp:
        clips = write_demo(Path(tmp) / "demo", seed=0, **{**demo, "clips_per_class": clips_per_class})
        sampling = Sampling(num_frames=frames)
        out = [load_sample(Path(tmp) / "demo" / c.relpath, sampling, geometry).frames for c in clips]
    return torch.from_numpy(np.concatenate(out))


def embed(frames: torch.Tensor, device: str, amp: torch.dtype | None, batch_size: int = 16) -> np.ndarray:
    """Features as the stage computes them on ``device`` (autocast ``amp``), rounded to the store's dtype."""
    backbone = build_backbone(BACKBONE, device=torch.device(device))
    autocast = torch.autocast(device_type=device, dtype=amp, enabled=amp is not None)
    out = []
    with torch.inference_mode(), autocast:
        for lo in range(0, len(frames), batch_size):
            x = frames[lo : lo + batch_size].to(device)
            out.append(backbone.model(backbone.normalize(x)).float().cpu().numpy())
    return np.concatenate(out).astype(STORE_DTYPE).astype(np.float64)


def precisions(cpu_fp16: bool) -> list[tuple[str, torch.dtype | None]]:
    found: list[tuple[str, torch.dtype | None]] = [("cpu", torch.bfloat16)]
    if cpu_fp16:  # about 10x slower than bf16 on a CPU without fp16 units
        found.append(("cpu", torch.float16))
    if torch.cuda.is_available():
        found = [("cuda", None), ("cuda", torch.bfloat16), ("cuda", torch.float16), *found]
    return found


def label(device: str, amp: torch.dtype | None) -> str:
    return f"{device}/{'fp32' if amp is None else str(amp).removeprefix('torch.')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-class", type=int, default=4)
    parser.add_argument("--frames", type=int, default=4, help="uniform samples per clip")
    parser.add_argument("--cpu-fp16", action="store_true", help="also CPU fp16 autocast (slow)")
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    args = parser.parse_args()
    geometry = build_backbone(BACKBONE, device=torch.device("meta"), pretrained=False).preprocessing.geometry()
    frames = demo_frames(args.clips_per_class, args.frames, geometry)
    reference = embed(frames, "cpu", None)
    norms = np.linalg.norm(reference, axis=1)
    rows = []
    for device, amp in precisions(args.cpu_fp16):
        start = time.perf_counter()
        rel = np.linalg.norm(embed(frames, device, amp) - reference, axis=1) / norms
        rows.append({"precision": label(device, amp), "frames": len(frames), "max": float(rel.max()),
                     "median": float(np.median(rel)), "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
        print(f"{rows[-1]['precision']:>14}: max {rel.max():.4f}, median {np.median(rel):.4f} ({len(frames)} frames)")
    if args.write:
        write_section("precision", markdown(rows, args))
    print(json.dumps({"reference": "cpu/fp32", "rows": rows}))


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "## Precision: features in another precision against CPU fp32",
        "",
        f"`uv run python -m benchmarks.precision --clips-per-class {args.clips_per_class} --frames {args.frames}"
        f"{' --cpu-fp16' if args.cpu_fp16 else ''} --write`: the demo's clips, the default backbone at 224 px, "
        "each feature rounded to float16 as a store holds it; per frame |f − f_cpu_fp32| / |f_cpu_fp32|. predict "
        "warns with the largest figure when it cannot compute new videos the way the store's were computed "
        "(`framecache.features.precision.PRECISION_GAP`).",
        "",
        "| precision | frames | max relative difference | median |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {r['precision']} | {r['frames']} | {r['max']:.4f} | {r['median']:.4f} |" for r in rows]
    if not any(r["precision"].startswith("cuda") for r in rows):
        lines += ["", "No GPU on the machine that wrote this table: the CUDA rows (fp32, bf16, fp16 autocast) await "
                      "a run on a CUDA host; CPU bf16/fp16 autocast stand in for them."]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
