"""Predict the class of new raw videos with a trained head: ``python -m stages.predict VIDEO_OR_FOLDER...
--head NAME``.

Frames are sampled and encoded exactly as the extract stage did for the training videos — the sampling,
backbone, weights and preprocessing are read from the feature store's recorded provenance, not from the
current params, so a prediction always matches the features the head was trained on. Folders are searched
recursively for the video extensions of ``prepare.extensions``. A file that cannot be decoded is reported
on its own line and the others are still predicted. The work is :func:`framecache.inference.predict_videos`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from framecache import cli
from framecache.compute import DEVICES
from framecache.config.params import load_params
from framecache.inference import predict_videos

EPILOG = """exit status: 0 when at least one video was predicted (files that failed are reported per file),
1 when every file failed, 2 for a usage or configuration problem (unknown head, missing store or model)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stages.predict",
        description=__doc__.splitlines()[0].split(":")[0] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER", help="video files and/or folders")
    parser.add_argument("--head", required=True, help="trained head to use (a name from params train.heads)")
    parser.add_argument("--top-k", type=int, default=5, help="classes listed per video (default: 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    parser.add_argument("--store", help="feature store (default: <paths.features>/<extract.backbone>.h5)")
    parser.add_argument("--models", help="trained heads folder (default: paths.models)")
    parser.add_argument("--device", choices=DEVICES, help="where the CNN runs (default: params extract.device)")
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f"--top-k must be >= 1, got {args.top_k}")
    params = load_params(args.params)
    run = predict_videos(
        params, args.inputs, args.head, store=args.store, models=args.models, device=args.device, top_k=args.top_k
    )
    print(run.as_json() if args.json else run.as_table())
    if run.failed:
        print(f"{run.failed} of {len(run.results)} input(s) could not be predicted", file=sys.stderr)
    return run.exit_status


if __name__ == "__main__":
    cli.run(main)
