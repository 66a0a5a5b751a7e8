"""DVC stage `demo`: write the embedded demo dataset (videos/ + manifest.csv) into its own output folder.

    python -m stages.demo --params params.yaml --out data/demo

The folder is built beside the target under a temporary name and swapped in when complete. An existing
target is replaced only if it carries the demo's marker file, so pointing ``paths.demo`` at a folder of real
videos by mistake can never delete them. The work is :func:`framecache.data.demo.write_demo`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from framecache import cli
from framecache.config.during import params_unchanged
from framecache.config.params import load_params
from framecache.data.demo import write_demo

log = logging.getLogger("framecache.demo")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (params: paths.demo)")
    args = parser.parse_args(argv)
    with params_unchanged(args.params, "demo"):
        params = load_params(args.params)
        demo = params["demo"]
        clips = write_demo(
            Path(args.out),
            seed=params["seed"],
            clips_per_class=demo["clips_per_class"],
            size=demo["size"],
            fps=demo["fps"],
            min_frames=demo["min_frames"],
            max_frames=demo["max_frames"],
        )
    log.info("wrote %d demo videos in %d classes to %s", len(clips), len({c.label for c in clips}), args.out)
    return 0


if __name__ == "__main__":
    cli.run(main)
