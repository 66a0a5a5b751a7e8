"""README.md stays true: the parameter reference is the schema's, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

from framecache.config.params import markdown_reference

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_parameter_reference_matches_the_schema():
    block = re.search(r"<!-- params:start -->\n(.*)<!-- params:end -->", README, re.S)
    assert block, "README.md lacks the <!-- params:start/end --> block"
    assert block.group(1) == markdown_reference(), (
        "README.md's parameter reference is out of date: regenerate it with "
        "`uv run python -m framecache.config.params --markdown`"
    )


def test_ci_runs_the_readme_test_command():
    setup = re.search(r"```bash\n(make demo[^\n]*)\n(make test[^\n]*)\n```", README)
    assert setup, "README.md's set-up block must be exactly the two commands `make demo` and `make test`"
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ".ci/run must call the README's test command, `make test`"
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: env\n\t\$\(UV\) run pytest$", makefile, re.M)
    assert re.search(r"^demo: env\n\t\$\(UV\) run dvc repro$", makefile, re.M)


def comment_problems(markdown: str) -> list[str]:
    """HTML comment markers outside code that do not pair up: a ``-->`` with no ``<!--`` before it shows its
    comment's text to every reader, a ``<!--`` never closed hides the rest of the page."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    problems, open_at = [], None
    for match in re.finditer(r"<!--|-->", prose):
        line = prose.count("\n", 0, match.start()) + 1
        if match.group() == "<!--":
            if open_at is not None:
                problems.append(f"'<!--' at line {open_at} is not closed before the next one")
            open_at = line
        elif open_at is None:
            problems.append(f"'-->' at line {line} closes no comment: the text before it shows as prose")
        else:
            open_at = None
    if open_at is not None:
        problems.append(f"'<!--' at line {open_at} is never closed: the rest of the page is hidden")
    return problems


def test_readme_comments_are_balanced():
    assert not comment_problems(README)


def test_the_comment_check_finds_stray_markers():
    stray = comment_problems("## A\ntext -->\n")
    assert stray == ["'-->' at line 2 closes no comment: the text before it shows as prose"]
    assert comment_problems("<!-- a\n") and comment_problems("<!-- a <!-- b -->")
    assert not comment_problems("<!-- a -->\n```\n-->\n```\n`<!--`\n")
