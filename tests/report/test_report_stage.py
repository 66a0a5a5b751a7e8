"""Tests for the report stage's entry point: the command line dvc.yaml runs, its error exit, and the HTML
page rendered by a real headless browser (Debian's chromium; skipped with a reason when it is absent)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from framecache import cli, layout
from stages import report
from tests import builders
from tests.report.train_outputs import HEADS, PAIRS, STORE, write_fixture


def write_params(path: Path, heads: dict) -> Path:
    """The repository's params.yaml with train.heads, heads and report replaced."""
    params = builders.default_params()
    params["train"]["heads"] = list(heads)
    params["heads"] = {name: spec for name, (spec, _, _) in heads.items()}
    params["report"] = {"bootstrap": 200, "confidence": 0.95, "class_pairs": PAIRS}
    return builders.write_params(path, params)


def argv(tmp: Path, dirs: dict[str, Path], params: Path) -> list[str]:
    return [
        "--params", str(params), "--prepared", str(dirs["prepared"]), "--features", str(dirs["features"]),
        "--store", str(dirs["features"] / STORE), "--models", str(dirs["models"]),
        "--out", str(tmp / "report"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage")
    dirs = write_fixture(tmp / "in", per_class=4)
    params = write_params(tmp / "params.yaml", HEADS)
    assert report.main(argv(tmp, dirs, params)) == 0
    return tmp / "report"


def test_stage_writes_every_declared_output(built):
    for name in layout.STAGE_OUTPUTS["report"]:
        assert (built / name).exists(), name
    for name in (layout.REPORT_HTML, layout.COMPARISON_CSV, layout.COMPARISON_MD, layout.PAIRS_CSV,
                 layout.PER_CLASS_CSV, layout.SUMMARY):  # fmt: skip
        assert (built / name).stat().st_size > 0, name
    for head in HEADS:
        assert (built / layout.CONFUSION_DIR / f"{head}.csv").is_file()
        assert (built / layout.CONFUSION_DIR / f"{head}.png").is_file()
    # atomic writes leave no temporary files behind
    assert not [p for p in built.rglob(".*tmp-*")]


def test_missing_models_exit_with_a_message(tmp_path, capsys):
    dirs = write_fixture(tmp_path / "in", heads={"lstm": HEADS["lstm"]})
    shutil.rmtree(dirs["models"])
    params = write_params(tmp_path / "params.yaml", {"lstm": HEADS["lstm"]})
    with pytest.raises(SystemExit) as exc:
        cli.run(report.main, argv(tmp_path, dirs, params))
    assert exc.value.code == 2
    assert "run the train stages first" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_html_renders_in_headless_chromium(built, tmp_path):
    browser = _chromium()
    if browser is None:
        reason = "chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it)"
        if os.environ.get("FRAMECACHE_REQUIRE_CHROMIUM"):
            pytest.fail(f"FRAMECACHE_REQUIRE_CHROMIUM is set but {reason}")
        pytest.skip(reason)
    shot = tmp_path / "page.png"
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}", "--window-size=1280,3600", (built / layout.REPORT_HTML).resolve().as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (3600, 1280)
    non_white = np.any(img < 245, axis=2)
    assert non_white.mean() > 0.05, "page looks blank"
    packed = (img[:, :, 0] << 16) | (img[:, :, 1] << 8) | img[:, :, 2]
    assert len(np.unique(packed)) > 100, "too few colours for tables and plots"
    # the headline box (CSS #eef5ff) and the per-class heat map (green cells) rendered...
    assert np.all(img == (0xEE, 0xF5, 0xFF), axis=2).sum() > 10_000
    green = (img[:, :, 1] > img[:, :, 0] + 40) & (img[:, :, 1] > img[:, :, 2] + 40)
    assert green.sum() > 5_000
    # ...and the embedded confusion-matrix PNGs decoded (their darkest "Blues" cells: deep navy)
    navy = (img[:, :, 2] > 80) & (img[:, :, 0] < 40) & (img[:, :, 1] < 80)
    assert navy.sum() > 2_000
    # nothing runs past the page's right edge: a table wider than the page scrolls in its own box, so the right
    # margin (body padding) stays blank down the whole page
    edge = img[:, -12:].min(axis=(1, 2))
    assert (edge >= 245).all(), f"something overflows the page's right edge (rows {np.flatnonzero(edge < 245)[:5]})"
