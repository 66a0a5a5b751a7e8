"""The layout rules of docs/ARCHITECTURE.md, checked on the source: commands → library, never back; no import
cycles; modules and functions short enough to read; every module says what it is for."""

from __future__ import annotations

import ast

import pytest

from tests.imports import REPO, direct_imports, find_cycle, module_file, project_modules

LIBRARY = project_modules("framecache")
COMMANDS = [m for m in project_modules("stages") if m != "stages"]
MODULE_LINES = 300
FUNCTION_LINES = 60  # the body, docstring not counted
COMMAND_LINES = 100


def test_the_commands_are_the_pipeline_stages_and_predict():
    stages = ["demo", "extract", "predict", "prepare", "report", "train", "validate"]
    assert sorted(m.split(".")[1] for m in COMMANDS) == stages


@pytest.mark.parametrize("module", LIBRARY)
def test_library_never_imports_the_commands(module):
    assert not [m for m in direct_imports(module) if m.split(".")[0] == "stages"]


@pytest.mark.parametrize("module", COMMANDS)
def test_commands_import_only_the_library(module):
    """A command never reaches into another command: what two commands share lives in framecache."""
    assert not [m for m in direct_imports(module) if m.split(".")[0] == "stages" and m != "stages"]


def test_no_import_cycles_in_the_library():
    assert find_cycle(LIBRARY) is None, f"import cycle: {' -> '.join(find_cycle(LIBRARY))}"


def test_the_cycle_finder_finds_cycles(monkeypatch):
    """The cycle check above could pass vacuously; it does not."""
    import tests.imports as imports

    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"})}
    monkeypatch.setattr(imports, "direct_imports", lambda m: graph.get(m, frozenset()))
    assert imports.find_cycle(["a"]) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("module", LIBRARY + COMMANDS)
def test_module_is_short_and_documented(module):
    path = module_file(module)
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    limit = COMMAND_LINES if module.startswith("stages.") else MODULE_LINES
    assert len(text.splitlines()) <= limit, f"{path.relative_to(REPO)} has {len(text.splitlines())} lines (> {limit})"
    # an empty __init__ too: DVC warns about every empty dependency file, and a package says what it holds
    assert ast.get_docstring(tree), f"{path.relative_to(REPO)} lacks a module docstring saying what it is for"
    long = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            if body and body[-1].end_lineno - body[0].lineno + 1 > FUNCTION_LINES:
                long.append(f"{node.name} ({body[-1].end_lineno - body[0].lineno + 1} lines)")
    assert not long, f"{path.relative_to(REPO)}: functions over {FUNCTION_LINES} lines: {', '.join(long)}"
