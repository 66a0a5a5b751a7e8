"""BENCHMARKS.md sections: each benchmark script owns one section between HTML-comment markers and replaces
it in place, leaving the other benchmarks' sections alone."""

from __future__ import annotations

import re
from pathlib import Path

from framecache.fileio import write_text

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def write_section(name: str, text: str, path: Path = BENCHMARKS) -> None:
    """Put ``text`` (Markdown, starting with its own heading) into section ``name`` of ``path``."""
    start, end = f"<!-- benchmark:{name}:start -->", f"<!-- benchmark:{name}:end -->"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    if start in old and end in old:
        new = re.sub(re.escape(start) + r".*?" + re.escape(end) + r"\n?", lambda _: block, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + block
    write_text(path, new)
    print(f"updated {path} ({name})")
