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
