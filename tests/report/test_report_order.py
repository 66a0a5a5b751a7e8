"""The headline says whether reading frame order pays: the best order-aware head against the best order-blind one,
their paired difference and whether it is within its interval; and the dataset's own class pairs (the demo's
class_pairs.csv, copied by prepare) reach the report without any params, while a dataset without them brings no
pair vocabulary and no warning about missing pairs."""

from __future__ import annotations

from framecache import layout
from framecache.data.class_pairs import write_class_pairs
from framecache.report import narrative
from framecache.report.build import build_report, class_pairs
from framecache.report.selection import ALL, OTHER, PAIRS
from tests.report.train_outputs import HEADS, STORE, build, comparison_of, params_for, write_fixture
from tests.report.train_outputs import PAIRS as DEMO_PAIRS


def test_the_headline_says_whether_frame_order_pays_beyond_the_interval(tmp_path):
    dirs = write_fixture(tmp_path, heads=HEADS)
    cmp = comparison_of(dirs, params_for(HEADS))
    pairs, other = cmp.winners[PAIRS], cmp.winners[OTHER]
    # within the reversal pairs the order-blind heads sit at 50% and lstm is right everywhere: a clear advantage
    assert pairs.temporal == "lstm" and pairs.baseline in ("pool_mean", "svm_linear")
    diff = pairs.temporal_contrast.diff
    assert diff.low > 0
    lines = narrative.headline(cmp)
    pair_line = next(line for line in lines if line.startswith("On the order-only pairs"))
    assert f"Frame order: the best head that reads it, lstm ({pairs.temporal_interval.point * 100:.1f}%" in pair_line
    assert f"an advantage of {100 * diff.point:+.1f} points" in pair_line
    assert "beyond the interval: reading frame order pays here" in pair_line
    # on the appearance classes lstm and pool_mean are equally good (95%): the difference is within the interval
    assert other.temporal_contrast.diff.low <= 0 <= other.temporal_contrast.diff.high
    other_line = next(line for line in lines if line.startswith("On the appearance classes"))
    assert "within the interval, so these videos show no difference between reading frame order and pooling" in (
        other_line
    )
    assert cmp.winners[ALL].temporal_contrast is not None


def test_a_deficit_beyond_the_interval_says_the_order_blind_head_does_better(tmp_path):
    weak = {
        "pool_mean": HEADS["pool_mean"],
        "lstm": ({"type": "lstm", "hidden": 16}, 0.1, 0.0),
    }
    dirs = write_fixture(tmp_path, heads=weak)
    cmp = comparison_of(dirs, params_for(weak, class_pairs=[]))
    line = narrative.headline(cmp)[0]
    assert "a deficit of -" in line and "beyond the interval: the order-blind head does better here" in line


def test_without_an_order_blind_or_an_order_aware_head_there_is_no_frame_order_line(tmp_path):
    blind = {"pool_mean": HEADS["pool_mean"], "svm_linear": HEADS["svm_linear"]}
    dirs = write_fixture(tmp_path, heads=blind)
    cmp = comparison_of(dirs, params_for(blind, class_pairs=[]))
    assert cmp.winners[ALL].temporal_contrast is None
    assert not any("Frame order" in line for line in narrative.headline(cmp))


def test_the_datasets_own_pairs_reach_the_report_without_params(tmp_path):
    heads = {"pool_mean": HEADS["pool_mean"], "lstm": HEADS["lstm"]}
    dirs = write_fixture(tmp_path / "in", heads=heads)
    write_class_pairs(dirs["prepared"] / layout.CLASS_PAIRS, DEMO_PAIRS)  # what prepare copies from the demo
    params = params_for(heads, class_pairs=[])
    report = tmp_path / "report"
    build_report(params, dirs["prepared"], dirs["features"], dirs["features"] / STORE, dirs["models"], report)
    pairs_csv = (report / layout.PAIRS_CSV).read_text()
    assert "zoom_in / zoom_out" in pairs_csv and "fade_in / fade_out" in pairs_csv
    assert "report.class_pairs" not in (report / layout.REPORT_HTML).read_text()


def test_a_dataset_without_pairs_gets_no_demo_vocabulary_and_no_warning(tmp_path):
    heads = {"pool_mean": HEADS["pool_mean"], "lstm": HEADS["lstm"]}
    params = params_for(heads, class_pairs=[])
    _, report, dirs = build(tmp_path, params, heads=heads)
    assert not (dirs["prepared"] / layout.CLASS_PAIRS).exists()
    html = (report / layout.REPORT_HTML).read_text()
    assert "order-only" not in html and "class pairs" not in html and "within-pair" not in html
    assert "order-only" not in (report / layout.COMPARISON_MD).read_text()


def test_params_pairs_come_first_and_a_dataset_pair_sharing_a_class_gives_way():
    dataset = [["zoom_in", "zoom_out"], ["fade_in", "fade_out"]]
    assert class_pairs([["zoom_out", "cat"]], dataset) == [["zoom_out", "cat"], ["fade_in", "fade_out"]]
    assert class_pairs([], dataset) == dataset


def test_per_class_headers_wrap_after_underscores_so_many_heads_fit_the_page(tmp_path):
    many = {**HEADS, "pool_maxmin_delta": ({"type": "pooled", "pooling": "maxmin_delta"}, 0.9, 0.9)}
    _, report, _ = build(tmp_path, params_for(many), heads=many)
    html = (report / layout.REPORT_HTML).read_text()
    section = html[html.index('<h2 id="per-class">') :]
    assert '<table class="per-class">' in section and "<th>pool_\u200bmaxmin_\u200bdelta</th>" in section
    # the CSV keeps the plain names
    assert "pool_maxmin_delta" in (report / layout.PER_CLASS_CSV).read_text().splitlines()[0]
