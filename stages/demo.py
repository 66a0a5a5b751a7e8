"""DVC stage `demo`: write the embedded demo dataset (videos/ + manifest.csv) into its own output folder.

    python -m stages.demo --params params.yaml --out data/demo

The folder is built beside the target under a temporary name and swapped in when complete. An existing
target is replaced only if it carries the demo's marker file, so pointing ``paths.demo`` at a folder of real
videos by mistake can never delete them.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from framecache import cli
from framecache.config.params import load_params
from framecache.data import demo as demo_videos
from framecache.errors import FramecacheError
from framecache.fileio import write_csv, write_text

log = logging.getLogger("framecache.demo")
MARKER = ".framecache-demo"


def build_demo(
    out: Path, *, seed: int, clips_per_class: int, size: int, fps: int, min_frames: int, max_frames: int
) -> int:
    """Generate the demo into ``out`` (replacing a previous demo); returns the number of videos."""
    out = Path(out)
    if out.exists() and not (out / MARKER).exists() and any(out.iterdir()):
        raise FramecacheError(
            f"{out} exists, is not empty and was not written by the demo stage (no {MARKER} file): "
            "refusing to replace it. Point paths.demo at a new folder."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        n_jobs = len(demo_videos.plan(seed, clips_per_class, min_frames, max_frames))
        with tqdm(total=n_jobs * 2, desc="demo videos", unit="video", leave=False) as bar:
            rows = demo_videos.generate(
                staging,
                seed=seed,
                clips_per_class=clips_per_class,
                size=size,
                fps=fps,
                min_frames=min_frames,
                max_frames=max_frames,
                progress=bar.update,
            )
        write_csv(
            staging / "manifest.csv",
            (
                {
                    "path": r.relpath,
                    "label": r.label,
                    "group": r.group,
                    "frames": r.frames,
                    "reversed_from": r.reversed_from,
                }
                for r in rows
            ),
            ["path", "label", "group", "frames", "reversed_from"],
        )
        write_text(staging / MARKER, "written by `python -m stages.demo`; safe to delete with the folder\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (params: paths.demo)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    demo = params.demo
    n = build_demo(
        Path(args.out),
        seed=params.seed,
        clips_per_class=demo.clips_per_class,
        size=demo.size,
        fps=demo.fps,
        min_frames=demo.min_frames,
        max_frames=demo.max_frames,
    )
    log.info("wrote %d demo videos in %d classes to %s", n, len(demo_videos.class_names()), args.out)
    return 0


if __name__ == "__main__":
    cli.run(main)
