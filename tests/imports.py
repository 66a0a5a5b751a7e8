"""The project's import graph read from source with ``ast``, the way a reviewer reads it: every ``import`` and
``from ... import`` anywhere in a module (function-level ones included), plus registry strings such as
``"framecache.heads.pooled:PooledHead"`` that name a module imported lazily by ``importlib``."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("framecache", "stages")
_MODULE_STRING = re.compile(r"^((?:framecache|stages)(?:\.\w+)+)(?::\w+)?$")


def module_file(module: str) -> Path | None:
    """The file that defines ``module`` (a module file or a package's __init__), or None if there is none."""
    base = REPO.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    rel = path.resolve().relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def project_modules(package: str) -> list[str]:
    return sorted(module_name(p) for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)


@cache
def direct_imports(module: str, lazy: bool = False) -> frozenset[str]:
    """The project modules ``module`` imports (``from pkg import name`` counts as pkg.name when that is a
    module, else as pkg); with ``lazy``, also the modules its registry strings name (imported on first use)."""
    path = module_file(module)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if module_file(sub) else base)
        elif lazy and isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _MODULE_STRING.match(node.value)
            if match and module_file(match.group(1)):
                found.add(match.group(1))
    return frozenset(m for m in found if m.split(".")[0] in PACKAGES and module_file(m) and m != module)


def closure(module: str, lazy: bool = False) -> set[str]:
    """Every project module that running ``module`` may execute: its imports, theirs, and the packages
    (``__init__``) above each of them; with ``lazy``, also what registry strings name."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parts = m.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(direct_imports(m, lazy))
    return {m for m in seen if module_file(m)}


def find_cycle(modules: list[str]) -> list[str] | None:
    """One import cycle among ``modules`` (direct imports only), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(direct_imports(m)):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in modules:
        if m not in state and (found := visit(m)):
            return found
    return None


if __name__ == "__main__":  # list a command's code deps for dvc.yaml: python -m tests.imports stages.train [--lazy]
    import sys

    for m in sorted(closure(sys.argv[1], "--lazy" in sys.argv)):
        print(module_file(m).relative_to(REPO))
