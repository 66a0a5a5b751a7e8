"""The resume journal of extraction: freshly computed videos checkpointed as small stores in a folder
``.<store name>.journal/`` beside the store, and the earlier stores a run may copy features from.

Features computed so far are checkpointed every ``extract.checkpoint_seconds`` (or every
:data:`JOURNAL_MAX_ROWS` frames): each part is itself a complete store, written atomically. A killed run
therefore loses at most one checkpoint interval; the next run reuses the parts (:func:`scan_sources`), and
the journal is deleted once the new store is in place. Ranks of a torchrun job number their own parts
(``part-rank<R>-<N>.h5``); the journal must be on storage every rank sees. The journal lives outside
dvc.yaml's declared outputs, so resuming after a kill works whatever DVC does with them.

It scales to any number of parts: earlier stores are indexed one file at a time (their content hashes
only) and opened again only while their videos are copied, a few at a time (:class:`SourceReader`); and
every :data:`COMPACT_AT` parts of one level are merged into one part of the next level
(``part-<N>-L<level>.h5``), so a run checkpointing after every video keeps a few dozen files, not thousands.
A part that cannot be written (a full disk) or read back is a :class:`FramecacheError` naming it and what to
do. Each part records a checksum of its data (:meth:`~framecache.features.store.FeatureStore.verify`), checked
before the part is reused: a part whose bytes changed after it was written (a bad disk, an edit) is refused
with a log line, and its videos are computed again.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
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
# Parts of one level merged into one part of the next level once there are this many.
COMPACT_AT = 32
# Earlier stores held open at once while videos are copied out of them.
MAX_OPEN = 8


def journal_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.journal"


def remove_stray_temps(out: Path) -> None:
    """Delete temporary stores of killed runs (atomic_path names them .<name>.tmp-*): ours, never the user's."""
    for stray in [*out.parent.glob(f".{out.name}.tmp-*"), *journal_dir(out).glob(".part-*.tmp-*")]:
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


def _part_name(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}(\d+)(?:-L(\d+))?\.h5$")


def journal_parts(out: Path, prefix: str = "part-") -> list[tuple[int, int, Path]]:
    """(number, level, path) of the parts named with ``prefix``, oldest first."""
    name = _part_name(prefix)
    found = []
    for path in journal_dir(out).glob(f"{prefix}*.h5"):
        m = name.match(path.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2) or 0), path))
    return sorted(found)


@dataclass
class Source:
    """An earlier store whose features may be copied (the previous store or a journal part): where it is
    and the content hash of each of its videos, in store order. It is not held open."""

    path: Path
    where: str
    shas: list[str]


# Journal parts whose checksum held (or that this process wrote), by file identity: a run scans the journal
# twice (plan, assemble) and reads each part's data once.
_INTACT: set[tuple[Any, ...]] = set()


def _identity(path: Path) -> tuple[Any, ...]:
    st = path.stat()
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _intact(store: FeatureStore) -> bool:
    """A journal part's data still hash to the checksum it was written with (read once per file version)."""
    key = _identity(store.path)
    if key not in _INTACT:
        if not store.verify():
            return False
        _INTACT.add(key)
    return True


def scan_sources(out: Path, expect: Mapping[str, Any]) -> list[Source]:
    """Earlier stores whose features are valid for ``expect``: the previous store, then every journal part
    (any rank's) whose checksum holds. Each is opened, indexed and closed again, so any number of parts is fine.
    The previous store is not read through: DVC tracks its checksum."""
    journal = journal_dir(out)
    candidates = [out] if out.is_file() else []
    if journal.is_dir():
        candidates += sorted(journal.glob("part-*.h5"))
    sources = []
    for path in candidates:
        intact = True
        try:
            with FeatureStore.open(path) as store:
                diffs = provenance_diff(store.provenance, expect)
                if not diffs and path.parent == journal:
                    intact = _intact(store)
                shas = [] if diffs or not intact else [str(s) for s in store.column("sha256")]
        except (FramecacheError, OSError, KeyError) as exc:
            log.warning("not reusing %s: %s", path, exc)
            continue
        if diffs:
            log.info("not reusing %s (built with another configuration: %s)", path, "; ".join(diffs))
            continue
        if not intact:
            log.warning(
                "not reusing resume journal part %s: its data do not match the checksum it was written with "
                "(changed on disk since); its videos are computed again", path
            )  # fmt: skip
            continue
        sources.append(Source(path, "journal" if path.parent == journal else "previous store", shas))
    return sources


class SourceReader:
    """Reads videos out of earlier stores, holding at most :data:`MAX_OPEN` of them open (least recently used
    closed first): thousands of journal parts never exhaust the open-file limit."""

    def __init__(self, max_open: int = MAX_OPEN):
        self.max_open = max_open
        self._open: OrderedDict[Path, FeatureStore] = OrderedDict()

    def record(self, source: Source, i: int) -> VideoFeatures:
        try:
            return self._store(source.path).record(i)
        except (FramecacheError, OSError, KeyError, IndexError) as exc:
            raise FramecacheError(
                f"could not read video {i} of {source.where} {source.path} ({exc}): delete that file and re-run "
                "`dvc repro extract` (its videos are then computed again)"
            ) from None

    def _store(self, path: Path) -> FeatureStore:
        if path in self._open:
            self._open.move_to_end(path)
            return self._open[path]
        while len(self._open) >= self.max_open:
            self._open.popitem(last=False)[1].close()
        store = self._open[path] = FeatureStore.open(path)
        return store

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_part(path: Path, videos: Iterator[VideoFeatures] | Sequence[VideoFeatures], journal: Journal) -> None:
    """Write one journal part atomically; a failed write (a full disk) is a FramecacheError saying what to do."""
    try:
        with (
            atomic_path(path) as tmp,
            StoreWriter(tmp, journal.provenance, journal.classes, compression="none", extra_attrs=journal.attrs) as w,
        ):
            for video in videos:
                w.append(video)
        _INTACT.add(_identity(path))  # just written from memory: the checksum is of these very bytes
    except OSError as exc:
        raise FramecacheError(
            f"could not write the resume journal part {path}: {exc}. Free disk space and re-run "
            f"`dvc repro extract`: the features already checkpointed in {path.parent} are kept and reused"
        ) from exc


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
        self.out = out
        self.dir = journal_dir(out)
        self.prefix = prefix  # ranks of a torchrun job each number their own parts
        self.provenance = dict(provenance)
        self.classes = list(classes)
        self.every = every
        self.attrs = attrs
        self.buffer: list[VideoFeatures] = []
        self.rows = 0
        self.last = time.monotonic()
        self.next = max((n for n, _, _ in journal_parts(out, prefix)), default=0) + 1
        self.parts: list[Path] = []  # the parts this run wrote and has not merged away
        self.levels: dict[int, list[Path]] = {}

    def add(self, video: VideoFeatures) -> None:
        self.buffer.append(video)
        self.rows += len(video.features)
        if self.rows >= JOURNAL_MAX_ROWS or time.monotonic() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._new_part(0)
        write_part(path, self.buffer, self)
        self.buffer, self.rows = [], 0
        self.last = time.monotonic()
        self._compact()

    def _new_part(self, level: int) -> Path:
        suffix = f"-L{level}" if level else ""
        path = self.dir / f"{self.prefix}{self.next:06d}{suffix}.h5"
        self.next += 1
        self.parts.append(path)
        self.levels.setdefault(level, []).append(path)
        return path

    def _compact(self) -> None:
        """Merge every :data:`COMPACT_AT` parts of a level into one of the next: each video is rewritten once
        per level, and a run keeps fewer than COMPACT_AT parts per level."""
        level = 0
        while len(self.levels.get(level, ())) >= COMPACT_AT:
            merged = self.levels.pop(level)
            path = self._new_part(level + 1)
            write_part(path, _videos_of(merged), self)
            for old in merged:  # after the merged part is in place: a kill in between leaves duplicates only
                self.parts.remove(old)
                with contextlib.suppress(OSError):
                    old.unlink()
            level += 1


def _videos_of(parts: Sequence[Path]) -> Iterator[VideoFeatures]:
    """Every video of ``parts``, in order, one part open at a time."""
    for path in parts:
        try:
            store = FeatureStore.open(path)
        except FramecacheError as exc:
            raise FramecacheError(f"{exc} (while merging resume journal parts)") from None
        with store:
            for i in range(len(store)):
                yield store.record(i)
