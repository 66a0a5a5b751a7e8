"""The parameter reference of README.md ("Parameters"), generated from the models, and the command that checks
a params file: ``python -m framecache.config.params [params.yaml]`` or ``... --markdown`` for the reference.
A test keeps README.md's block identical to :func:`markdown_reference`.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from pydantic.fields import FieldInfo

from framecache import heads
from framecache.config.fields import Settings
from framecache.config.loading import load_params
from framecache.config.messages import describe
from framecache.config.sections import ParamsFile

_TABLE_HEAD = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]


def _md_default(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list) and len(str(value)) > 40:
        return "see params.yaml"
    return f"`{value}`"


def _md_text(text: str) -> str:
    # "<class>" would be read as an HTML tag and vanish; "<= 1" and "> 0" are fine as they are
    return re.sub(r"<(?=[A-Za-z/])", "&lt;", text.replace("|", "\\|"))


def _md_row(key: str, field: FieldInfo) -> str:
    allowed = describe(field.annotation, field.metadata)
    return f"| `{key}` | {_md_default(field.default)} | {_md_text(allowed)} | {_md_text(field.description or '')} |"


def _rows(model: type[Settings], prefix: str = "", skip: frozenset[str] = frozenset()) -> list[str]:
    return [_md_row(f"{prefix}{k}", f) for k, f in model.model_fields.items() if k not in skip]


def _head_tables() -> list[str]:
    records = list(heads.REGISTRY.values())
    torch_types = [t for t in records if t.uses_torch]
    shared = frozenset.intersection(*(frozenset(t.settings.model_fields) for t in torch_types))
    first = torch_types[0].settings
    lines = ["**Torch heads** (" + ", ".join(f"`{t.name}`" for t in torch_types) + "), shared settings", ""]
    lines += [*_TABLE_HEAD, *(_md_row(k, f) for k, f in first.model_fields.items() if k in shared), ""]
    # types whose own settings read the same share one table (rnn, lstm and gru)
    tables: dict[tuple[str, ...], list[str]] = {}
    for record in sorted(records, key=lambda t: t.name):
        rows = tuple(_rows(record.settings, skip=shared if record.uses_torch else frozenset()))
        tables.setdefault(rows, []).append(record.name)
    for rows, names in tables.items():
        extra = " — in addition to the shared settings" if heads.REGISTRY[names[0]].uses_torch else ""
        lines += [f"**{', '.join(f'`{n}`' for n in names)}**{extra}", "", *_TABLE_HEAD, *rows, ""]
    return lines


def markdown_reference() -> str:
    """Every params key as Markdown tables, generated from the models (README.md embeds this verbatim)."""
    fields = ParamsFile.model_fields
    lines = [*_TABLE_HEAD, _md_row("seed", fields["seed"]), ""]
    for section in ("paths", "demo", "prepare", "extract", "train"):
        lines += [f"### `{section}`", "", *_TABLE_HEAD, *_rows(fields[section].annotation, f"{section}."), ""]
    lines += [
        "### `heads`",
        "",
        "Each entry of `heads` is a named head configuration: `type` (one of "
        + ", ".join(f"`{t}`" for t in heads.head_types())
        + ") plus that type's settings. `train.heads` lists the entries to train; each becomes the DVC stage "
        "`train@<name>`, so one type can have several variants (as `pool_mean` … `pool_maxmin_delta` do).",
        "",
        *_head_tables(),
    ]
    lines += ["### `report`", "", *_TABLE_HEAD, *_rows(fields["report"].annotation, "report.")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--markdown"]:
        print(markdown_reference(), end="")
        return 0
    path = argv[0] if argv else "params.yaml"
    params = load_params(path)
    print(f"{path}: OK ({len(params['heads'])} heads defined, training {', '.join(params['train']['heads'])})")
    return 0
