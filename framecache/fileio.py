"""Crash-safe output writing and content hashing shared by every stage.

Every output a stage produces goes through :func:`atomic_path`: it is written to a temporary file in the
same directory and renamed over the final name only once complete, so a kill, a full disk or an exception
leaves either the previous output or none — never a truncated file that DVC or the next stage would trust.
A stage that writes several files (train, report) writes them through :func:`output_set`, which makes the
whole set appear at once or not at all, and turns a full disk into one message.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from framecache.errors import FramecacheError

HASH_CHUNK = 1 << 20
# Write failures the user fixes outside the program (space, quota, permissions): one message and exit 2.
# Any other OSError is a bug and keeps its traceback.
_USER_FIXABLE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it onto ``final`` if the block succeeds.

    The temporary name starts with a dot and the final name, so a crash leaves only a clearly named
    stray (``.name.tmp-XXXX``) and never a file with the final name. On any exception the temporary file
    is removed and the exception propagates.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.tmp-", suffix=suffix if suffix is not None else final.suffix, dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # mkstemp creates 0600; outputs should get the permissions any new file would (0666 minus umask)
        os.chmod(tmp, 0o666 & ~_UMASK)
        yield tmp
        # fsync before rename: after a power loss the rename must not point at unwritten blocks.
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def output_set(final: str | os.PathLike, names: Sequence[str], what: str, rerun: str) -> Iterator[Path]:
    """Write a stage's set of outputs whole or not at all: yield an empty folder beside ``final`` to write them
    into; once the block succeeds, move each of ``names`` from there into ``final`` (files and folders
    replaced; a name the block did not write is removed from ``final``).

    On any error the temporary folder goes and ``final`` keeps what it held. A write that fails for lack of space
    or permission (``ENOSPC``, ``EDQUOT``, ``EACCES``, ...) becomes a :class:`FramecacheError` naming ``what``,
    the folder and the ``rerun`` command. Renames need no space, so a full disk cannot stop the moves midway.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        try:
            yield staging
        except OSError as exc:
            if exc.errno not in _USER_FIXABLE:
                raise
            raise FramecacheError(
                f"could not write {what} into {final}: {exc}. None of it was written: the folder holds what it "
                f"held before; free disk space (or fix the folder's permissions) and re-run `{rerun}`"
            ) from exc
        final.mkdir(exist_ok=True)
        for name in names:
            _move_into_place(staging / name, final / name, staging / f".old-{name}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(new: Path, dest: Path, trash: Path) -> None:
    """``new`` (a file, a folder or nothing) replaces ``dest``; a folder that is replaced goes to ``trash``."""
    if dest.is_dir() and not dest.is_symlink():
        os.replace(dest, trash)
    elif (dest.exists() or dest.is_symlink()) and new.is_dir():
        dest.unlink()  # os.replace puts a folder over a folder or nothing, never over a file
    if new.exists():
        os.replace(new, dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once at import, before any worker threads exist
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write dict rows with a fixed header, even when there are no rows (an empty table is still a table)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks so memory stays flat for large videos."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays turn up in metrics; json cannot serialise them natively.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
