"""A report that reads well at UCF101's 101 classes: a headline that counts the classes instead of naming them,
the per-class table cut to the worst and best classes (all of them in per_class.csv), a "most confused pairs"
table, the chosen head's most confused classes as a shaded sub-matrix and every head's full matrix as a linked
CSV. Plus the confusion helpers on hand-made matrices."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from framecache import layout
from framecache.report import confusion
from tests.report.train_outputs import TWO, build, params_for

# zoom_in/zoom_out are a demo "pair" to the fixture's simulated heads (pool_mean mixes them up half the time,
# lstm never), but not to the report (class_pairs empty): a systematic confusion among 99 random ones
MANY = ["zoom_in", "zoom_out", *[f"class_{i:03d}" for i in range(99)]]


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    params = params_for(TWO, class_pairs=[], n_boot=200)
    return build(tmp_path_factory.mktemp("many"), params, heads=TWO, per_class=8, classes=MANY)


def _section(page: str, section_id: str) -> str:
    start = page.index(f'<h2 id="{section_id}">')
    end = page.find("<h2 ", start + 1)
    return page[start : end if end > 0 else len(page)]


def test_headline_counts_the_classes_without_naming_them(many):
    _, out, _ = many
    md = (out / layout.COMPARISON_MD).read_text()
    headline = md.split("\n## ")[0]
    assert "the dataset's 101 classes, 808 test videos" in headline
    assert not any(c in headline for c in MANY)
    page = (out / layout.REPORT_HTML).read_text()
    box = page[page.index('<div class="headline">') : page.index("</div>", page.index('<div class="headline">'))]
    assert "101 classes" in box and not any(c in box for c in MANY)


def test_per_class_table_shows_worst_and_best_with_all_in_the_csv(many):
    _, out, _ = many
    csv = pd.read_csv(out / layout.PER_CLASS_CSV)
    assert list(csv["class"]) == MANY and list(csv.columns) == ["class", "test_videos", *TWO]
    mean = csv.set_index("class")[list(TWO)].mean(axis=1)
    section = _section((out / layout.REPORT_HTML).read_text(), "per-class")
    assert "The 10 worst classes" in section and "The 10 best classes" in section
    assert layout.PER_CLASS_CSV in section
    shown = re.findall(r"<tr><td>((?:zoom|class)_[^<]+)</td>", section)
    assert len(shown) == 20 == len(set(shown))
    worst, best = shown[:10], shown[10:]
    assert mean[worst].max() <= mean[best].min()
    assert mean[worst[0]] == mean.min() and mean[best[0]] == mean.max()
    hidden = set(MANY) - set(shown)
    assert all(mean[worst].max() <= mean[c] <= mean[best].min() for c in hidden)
    assert "zoom_in" in worst and "zoom_out" in worst  # pool_mean gets them wrong half the time


def test_most_confused_pairs_and_full_matrices(many):
    _, out, _ = many
    section = _section((out / layout.REPORT_HTML).read_text(), "confusion")
    assert "Most frequent confusions (actual → predicted)" in section
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>(\d+)</td>", section)
    assert len(rows) == confusion.PAIRS_SHOWN
    assert {rows[0][:2], rows[1][:2]} == {("zoom_in", "zoom_out"), ("zoom_out", "zoom_in")}
    counts = [int(r[2]) for r in rows]
    assert counts == sorted(counts, reverse=True)
    total = 0
    for head in TWO:
        matrix = pd.read_csv(out / layout.CONFUSION_DIR / f"{head}.matrix.csv", index_col=0)
        assert list(matrix.index) == MANY and list(matrix.columns) == MANY
        pairs = pd.read_csv(out / layout.CONFUSION_DIR / f"{head}.csv")
        expect = pd.crosstab(pairs["actual"], pairs["predicted"]).reindex(index=MANY, columns=MANY, fill_value=0)
        assert np.array_equal(matrix.to_numpy(), expect.to_numpy())
        assert matrix.to_numpy().sum() == 808
        total += int(matrix.loc["zoom_in", "zoom_out"])
        assert f'href="{layout.CONFUSION_DIR}/{head}.matrix.csv"' in section
    assert total == next(int(c) for a, p, c in rows if (a, p) == ("zoom_in", "zoom_out"))


def test_chosen_head_sub_matrix_has_its_most_confused_classes(many):
    summary, out, _ = many
    chosen = summary["best_head"]
    section = _section((out / layout.REPORT_HTML).read_text(), "confusion")
    assert f"{chosen}: its {confusion.PLOT_SHOWN} most confused classes" in section
    sub = section[section.index("most confused classes") :]
    sub = sub[sub.index("<table") : sub.index("</table>")]
    header = re.findall(r"<th>([^<]*)</th>", sub)
    assert len(header) == confusion.PLOT_SHOWN + 1
    matrix = pd.read_csv(out / layout.CONFUSION_DIR / f"{chosen}.matrix.csv", index_col=0).to_numpy()
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    a, p = np.unravel_index(np.argmax(off), off.shape)
    assert MANY[a] in header and MANY[p] in header


def test_confusion_helpers_on_small_matrices():
    m = confusion.counts(np.array([0, 0, 1, 2, 2, 2]), np.array([1, 1, 1, 0, 2, 1]), 3)
    assert m.tolist() == [[0, 2, 0], [0, 1, 0], [1, 1, 1]]
    assert confusion.most_confused({"a": m, "b": m.T}, top=3) == [(0, 1), (1, 0), (0, 2)]
    assert confusion.most_confused({"a": np.eye(3, dtype=int)}) == []
    assert confusion.shown_classes(m) == [0, 1, 2]
    big = np.diag(np.full(40, 5))
    big[0, 0] = 0  # a class without test videos is never picked to fill up
    big[7, 30], big[30, 7], big[12, 3] = 4, 3, 2
    assert confusion.shown_classes(big, limit=3) == [7, 12, 30]  # the pairs in order of counts
    assert confusion.shown_classes(big, limit=4) == [3, 7, 12, 30]
    # fewer confused classes than places: filled up in class order, a class without test videos (0) never
    assert confusion.shown_classes(big, limit=6) == [1, 2, 3, 7, 12, 30]


def test_small_per_class_tables_are_shown_whole():
    df = pd.DataFrame({"class": [f"c{i}" for i in range(30)], "h": np.linspace(0, 1, 30)})
    assert confusion.worst_and_best(df, ["h"])[0][1] is df
    big = pd.DataFrame({"class": [f"c{i:02d}" for i in range(40)], "h": np.r_[np.linspace(0, 1, 39), 0.0]})
    (wt, worst), (bt, best) = confusion.worst_and_best(big, ["h"], shown=3)
    assert (wt, bt) == ("The 3 worst classes", "The 3 best classes")
    assert list(worst["class"]) == ["c00", "c39", "c01"] and list(best["class"]) == ["c38", "c37", "c36"]
