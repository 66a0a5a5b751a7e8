"""A test split whose videos all share one group, through the whole report: a cluster bootstrap over one group
has no spread, so the report computes no group-level interval or test, says why, and claims no significance;
the exact sign test over groups (McNemar p = 1) is still shown."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from framecache import layout
from framecache.report.build import build_report
from tests.builders import read_rows
from tests.report.train_outputs import HEADS, STORE, params_for, write_fixture


@pytest.fixture(scope="module")
def one_group(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one_group")
    dirs = write_fixture(tmp / "in", per_class=6)
    manifest = pd.read_csv(dirs["prepared"] / layout.MANIFEST, dtype=str, keep_default_na=False)
    manifest.loc[manifest["split"] == "test", "group"] = "the one source"
    manifest.to_csv(dirs["prepared"] / layout.MANIFEST, index=False)
    out = tmp / "report"
    build_report(params_for(HEADS), dirs["prepared"], dirs["features"], dirs["features"] / STORE, dirs["models"], out)
    return out


def test_no_significance_is_claimed_from_one_group(one_group):
    text = (one_group / layout.COMPARISON_MD).read_text()
    headline = text.split("\n\n")[1]
    assert "significant" not in headline  # neither "differs significantly" nor "significantly better"
    assert "in 1 group:" in headline and "no head is called better or worse than another" in headline
    assert "Above chance (" in headline and "is not tested" in headline and "heads are above chance" not in headline
    assert "[too few groups]" in headline and "With fewer than 6 groups" in text
    assert "Frame order:" in headline and "cannot tell whether reading frame order pays" in headline
    assert "beyond the interval" not in headline and "within the interval" not in headline
    html = re.sub(r"data:[^\"']+", "", (one_group / layout.REPORT_HTML).read_text())  # no embedded figures
    assert "too few groups" in html
    assert not re.search(r"\bnan\b", html + text, re.I)


def test_the_tables_hold_no_group_level_numbers_but_the_exact_test(one_group):
    rows = {r["head"]: r for r in read_rows(one_group / layout.COMPARISON_CSV)}
    for r in rows.values():
        assert r["test_groups"] == "1"
        assert r["top1"] and r["top1_low"] == r["top1_high"] == ""  # the share, with no interval
        assert r["above_chance_p"] == r["above_chance"] == ""
        assert r["delta_top1_low"] == r["delta_top1_p"] == r["delta_top1_p_holm"] == ""
    assert rows["lstm"]["delta_top1"] and float(rows["lstm"]["mcnemar_p"]) == 1.0  # one group: sign test p = 1
    summary = json.loads((one_group / layout.SUMMARY).read_text())
    assert summary["test_groups"] == 1 and summary["heads_above_chance"] is None
