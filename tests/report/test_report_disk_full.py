"""A full disk while the report is written: one message and exit 2, and the report folder holds the previous
report's files or none of the new ones — never CSVs without the HTML page."""

from __future__ import annotations

import pytest

from framecache import layout
from framecache.cli import run
from framecache.errors import FramecacheError
from framecache.report.build import build_report
from tests.conftest import tree_bytes
from tests.report.train_outputs import STORE, TWO, params_for, write_fixture


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("in")
    return root, write_fixture(root, heads=TWO, per_class=4), params_for(TWO, n_boot=100)


def _build(inputs, out):
    _, dirs, params = inputs
    return build_report(params, dirs["prepared"], dirs["features"], dirs["features"] / STORE, dirs["models"], out)


def test_full_disk_at_each_report_file_leaves_the_previous_report(inputs, tmp_path, full_disk):
    out = tmp_path / "report"
    sites = full_disk.fail_each_write(
        lambda: _build(inputs, out), out, r"could not write the report .*No space left on device.*dvc repro"
    )
    assert sites >= len(layout.STAGE_OUTPUTS["report"])  # every file, the HTML page last but one


def test_full_disk_on_a_first_report_writes_none_of_it(inputs, tmp_path, full_disk):
    out = tmp_path / "report"
    full_disk.at(3)  # a few tables written, the page not yet
    with pytest.raises(FramecacheError, match="No space left on device"):
        _build(inputs, out)
    assert tree_bytes(out) == {}


def test_the_stage_exits_2_with_one_line(inputs, tmp_path, full_disk, capsys):
    from stages.report import main
    from tests.builders import write_params

    _, dirs, params = inputs
    path = write_params(tmp_path, train={"heads": list(TWO)}, heads=params["heads"], report=params["report"])
    folders = {"prepared": dirs["prepared"], "features": dirs["features"], "store": dirs["features"] / STORE,
               "models": dirs["models"], "out": tmp_path / "r"}  # fmt: skip
    argv = ["--params", str(path), *(a for key, value in folders.items() for a in (f"--{key}", str(value)))]
    full_disk.at(0)
    with pytest.raises(SystemExit) as exit_:
        run(main, argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: could not write the report") and "Traceback" not in err
