"""dvc.yaml against the code: every stage declares exactly the outputs framecache.layout names, and its code
deps cover everything its command may import (read with ``ast``), so DVC re-runs a stage whenever code it
runs has changed — and ``__pycache__`` never counts as a dep."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

from framecache import layout
from tests.imports import REPO, closure, module_file

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
COMMAND = re.compile(r"python -m (stages\.\w+)")


def interpolate(text: str, item: dict | None = None) -> str:
    """Resolve ``${a.b}`` from params.yaml (and ``${item.x}`` from a matrix item), as DVC does."""

    def value(match: re.Match) -> str:
        node: object = {"item": item or {}, **PARAMS}
        for part in match.group(1).split("."):
            node = node[part]  # type: ignore[index]
        return str(node)

    return re.sub(r"\$\{([^}]+)\}", value, text)


def entries(spec: dict, key: str, item: dict | None = None) -> set[str]:
    out = set()
    for entry in spec.get(key, []):
        name = next(iter(entry)) if isinstance(entry, dict) else entry
        out.add(str(PurePosixPath(interpolate(name, item))))
    return out


def declared_outputs(stage: str, item: dict | None = None) -> set[str]:
    spec = DVC[stage]
    return entries(spec, "outs", item) | entries(spec, "metrics", item) | entries(spec, "plots", item)


def expected(folder: str, stage: str) -> set[str]:
    return {str(PurePosixPath(folder) / name) for name in layout.STAGE_OUTPUTS[stage]}


def test_outputs_match_the_layout():
    paths = PARAMS["paths"]
    store = str(PurePosixPath(layout.store_path(paths["features"], PARAMS["extract"]["backbone"])))
    assert declared_outputs("prepare") == expected(paths["prepared"], "prepare")
    assert declared_outputs("extract") == expected(paths["features"], "extract") | {store}
    for head in PARAMS["train"]["heads"]:
        folder = str(PurePosixPath(layout.head_dir(paths["models"], head)))
        assert declared_outputs("train", {"head": head}) == expected(folder, "train")
    assert declared_outputs("report") == expected(paths["report"], "report")
    assert declared_outputs("demo") == {paths["demo"]}


def test_each_stage_reads_the_store_where_extract_writes_it():
    store = str(PurePosixPath(layout.store_path(PARAMS["paths"]["features"], PARAMS["extract"]["backbone"])))
    for stage in ("train", "report"):
        assert store in entries(DVC[stage], "deps", {"head": PARAMS["train"]["heads"][0]}), stage


# Stages that build heads: the registry imports each head's implementation on first use, by name.
BUILDS_HEADS = {"train"}


def code_files(module: str, lazy: bool) -> set[Path]:
    """The source files a command may execute, plus the data files (templates) of the packages involved."""
    files = {module_file(m) for m in closure(module, lazy)}
    for package_dir in {f.parent for f in files if f.name == "__init__.py" and f.parent.name != "stages"}:
        files |= {p for p in package_dir.iterdir() if p.is_dir() and p.name == "templates" for p in p.rglob("*")}
    return {f for f in files if f.is_file() and "__pycache__" not in f.parts}


def covered(file: Path, deps: set[str]) -> bool:
    rel = PurePosixPath(file.relative_to(REPO).as_posix())
    return any(rel == PurePosixPath(d) or PurePosixPath(d) in rel.parents for d in deps)


@pytest.mark.parametrize("stage", sorted(DVC))
def test_code_deps_cover_the_import_closure(stage):
    spec = DVC[stage]
    module = COMMAND.search(spec["cmd"]).group(1)
    deps = entries(spec, "deps", {"head": PARAMS["train"]["heads"][0]})
    missing = sorted(
        str(f.relative_to(REPO)) for f in code_files(module, stage in BUILDS_HEADS) if not covered(f, deps)
    )
    assert not missing, f"dvc.yaml stage {stage!r} lacks code deps: {', '.join(missing)}"
    stale = sorted(d for d in deps if d.endswith(".py") and not (REPO / d).is_file())
    assert not stale, f"dvc.yaml stage {stage!r} lists code that does not exist: {', '.join(stale)}"


@pytest.mark.parametrize("stage", sorted(DVC))
def test_no_dependency_file_is_empty(stage):
    """DVC warns about every empty dependency file on every `dvc repro` (``WARNING: '...' is empty.``), once per
    stage that lists it: a dependency must hold something (a package's __init__ its docstring)."""
    deps = entries(DVC[stage], "deps", {"head": PARAMS["train"]["heads"][0]})
    files = []
    for dep in deps:
        path = REPO / dep
        if path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        elif path.is_file():
            files.append(path)
    empty = sorted(str(f.relative_to(REPO)) for f in files if f.stat().st_size == 0)
    assert not empty, f"dvc.yaml stage {stage!r} depends on empty files (DVC warns on each): {', '.join(empty)}"


@pytest.mark.parametrize("stage", sorted(DVC))
def test_params_match_what_each_stage_checks_it_ran_with(stage):
    """framecache.config.during refuses to finish a stage whose params changed while it ran; it must watch
    exactly the params dvc.yaml declares for that stage (DVC records those in dvc.lock)."""
    from framecache.config.during import STAGE_PARAMS

    declared = DVC[stage].get("params", [])
    expected = STAGE_PARAMS[stage]
    if expected is None:
        assert declared == [{"params.yaml": None}]
    else:
        assert [p.replace("${item.head}", "{head}") for p in declared] == list(expected)


def test_the_closure_follows_lazy_imports():
    """The report command imports the report package inside main(): the closure must still see it, and the
    train command's heads come from registry strings."""
    assert any(m.startswith("framecache.report") for m in closure("stages.report"))
    assert "framecache.heads.recurrent" in closure("stages.train", lazy=True)


def test_dvcignore_hides_bytecode():
    lines = (REPO / ".dvcignore").read_text(encoding="utf-8").split()
    assert "__pycache__/" in lines and "*.pyc" in lines


def test_data_folder_is_documented():
    assert (REPO / "data" / "README.md").is_file()
