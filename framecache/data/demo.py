"""The demo stage's work: write the embedded demo dataset (videos/, manifest.csv and class_pairs.csv, its order-only
pairs) into its own folder.

The clips themselves come from :mod:`framecache.data.demo_clips`. The folder is built beside the target under a
temporary name and swapped in when complete. An existing target is replaced only if it carries the demo's
marker file, so pointing ``paths.demo`` at a folder of real videos by mistake can never delete them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tqdm import tqdm

from framecache.data import demo_clips
from framecache.data.class_pairs import write_class_pairs
from framecache.errors import FramecacheError
from framecache.fileio import write_csv, write_text
from framecache.layout import CLASS_PAIRS, MANIFEST

MARKER = ".framecache-demo"
# prepare reads path,label,group; frames and reversed_from let a reader check the clips and their reversals
DEMO_MANIFEST_COLUMNS = ("path", "label", "group", "frames", "reversed_from")


def write_demo(
    out: Path, *, seed: int, clips_per_class: int, size: int, fps: int, min_frames: int, max_frames: int
) -> list[demo_clips.DemoClip]:
    """Generate the demo into ``out`` (replacing a previous demo); returns its videos (the manifest's rows)."""
    out = Path(out)
    if out.exists() and not (out / MARKER).exists() and any(out.iterdir()):
        raise FramecacheError(
            f"{out} exists, is not empty and was not written by the demo stage (no {MARKER} file): "
            "refusing to replace it. Point paths.demo at a new folder."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        # a job renders one clip; an order pair's job also writes its reversal
        n_videos = sum(len(clips) for _, clips in demo_clips.plan(seed, clips_per_class, min_frames, max_frames))
        with tqdm(total=n_videos, desc="demo videos", unit="video", leave=False) as bar:
            rows = demo_clips.generate(
                staging,
                seed=seed,
                clips_per_class=clips_per_class,
                size=size,
                fps=fps,
                min_frames=min_frames,
                max_frames=max_frames,
                progress=bar.update,
            )
        write_csv(staging / MANIFEST, (_manifest_row(r) for r in rows), DEMO_MANIFEST_COLUMNS)
        # the order-only pairs travel with the clips: prepare copies them, the report scores them within pair
        write_class_pairs(staging / CLASS_PAIRS, demo_clips.class_pairs())
        write_text(staging / MARKER, "written by `python -m stages.demo`; safe to delete with the folder\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return rows


def _manifest_row(clip: demo_clips.DemoClip) -> dict[str, str | int]:
    return {
        "path": clip.relpath,
        "label": clip.label,
        "group": clip.group,
        "frames": clip.frames,
        "reversed_from": clip.reversed_from,
    }
