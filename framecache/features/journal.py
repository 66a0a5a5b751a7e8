"""The resume journal of extraction: freshly computed videos checkpointed as small stores in a folder
``.<store name>.journal/`` beside the store, and the earlier stores a run may copy features from.

Features computed so far are checkpointed every ``extract.checkpoint_seconds`` (or every
:data:`JOURNAL_MAX_ROWS` frames): each part is itself a complete store, written atomically. A killed run
therefore loses at most one checkpoint interval; the next run reuses the parts (:func:`open_sources`), and
the journal is deleted once the new store is in place. Ranks of a torchrun job number their own parts
(``part-rank<R>-<N>.h5``); the journal must be on storage every rank sees. The journal lives outside
dvc.yaml's declared outputs, so resuming after a kill works whatever DVC does with them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecache.errors import FramecacheError
from framecache.features.provenance import provenance_diff
from framecache.features.store import FeatureStore, StoreWriter, VideoFeatures
from framecache.fileio import atomic_path

log = logging.getLogger("framecache.extract")

# Frames buffered in memory between journal checkpoints, at most (besides the time limit).
JOURNAL_MAX_ROWS = 32768


def journal_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.journal"


def remove_stray_temps(out: Path) -> None:
    """Delete temporary stores of killed runs (atomic_path names them .<name>.tmp-*): ours, never the user's."""
    for stray in out.parent.glob(f".{out.name}.tmp-*"):
        with contextlib.suppress(OSError):
            stray.unlink()


def clear_journal(out: Path) -> None:
    journal = journal_dir(out)
    if not journal.is_dir():
        return
    for part in journal.iterdir():
        with contextlib.suppress(OSError):
            part.unlink()
    with contextlib.suppress(OSError):
        journal.rmdir()


@dataclass
class Source:
    """An earlier store whose features may be copied: the previous store or a journal part."""

    store: FeatureStore
    where: str


def open_sources(out: Path, expect: Mapping[str, Any]) -> list[Source]:
    """Earlier stores whose features are valid for ``expect``: the previous store, then journal parts."""
    candidates = [out] if out.is_file() else []
    journal = journal_dir(out)
    if journal.is_dir():
        candidates += sorted(p for p in journal.glob("part-*.h5"))
    sources = []
    for path in candidates:
        try:
            store = FeatureStore.open(path)
        except FramecacheError as exc:
            log.warning("not reusing %s: %s", path, exc)
            continue
        diffs = provenance_diff(store.provenance, expect)
        if diffs:
            log.info("not reusing %s (built with another configuration: %s)", path, "; ".join(diffs))
            store.close()
            continue
        sources.append(Source(store, "journal" if path.parent == journal else "previous store"))
    return sources


class Journal:
    """Checkpoints of freshly computed videos, each part a complete little store written atomically."""

    def __init__(
        self,
        out: Path,
        provenance: Mapping[str, Any],
        classes: Sequence[str],
        every: float,
        attrs: Mapping[str, Any],
        prefix: str = "part-",
    ):
        self.dir = journal_dir(out)
        self.prefix = prefix  # ranks of a torchrun job each number their own parts
        self.provenance = dict(provenance)
        self.classes = list(classes)
        self.every = every
        self.attrs = attrs
        self.buffer: list[VideoFeatures] = []
        self.rows = 0
        self.last = time.monotonic()
        numbers = (p.stem[len(prefix) :] for p in self.dir.glob(f"{prefix}*.h5"))
        existing = [int(n) for n in numbers if n.isdigit()]
        self.next = max(existing, default=0) + 1
        self.parts: list[Path] = []

    def add(self, video: VideoFeatures) -> None:
        self.buffer.append(video)
        self.rows += len(video.features)
        if self.rows >= JOURNAL_MAX_ROWS or time.monotonic() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{self.prefix}{self.next:06d}.h5"
        with (
            atomic_path(path) as tmp,
            StoreWriter(tmp, self.provenance, self.classes, compression="none", extra_attrs=self.attrs) as writer,
        ):
            for video in self.buffer:
                writer.append(video)
        self.parts.append(path)
        self.next += 1
        self.buffer, self.rows = [], 0
        self.last = time.monotonic()
