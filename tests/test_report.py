"""The HTML report: self-contained, every section present, "not run" notes for missing stages,
the SYNTHETIC banner, and a real headless Chromium rendering it without console errors."""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from _workflow_run import run_cli, workflow_results

matplotlib.use("Agg")

from radiogenomics.report import SECTION_IDS, render

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return workflow_results(tmp_path_factory)


def _sections(html: str) -> dict[str, str]:
    """Section id -> its class (ok / notrun / error)."""
    return dict(re.findall(r'<section id="([\w-]+)" class="(\w+)">', html))


def test_empty_results_give_not_run_notes_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = render(tmp_path / "empty", tmp_path / "r.html", synthetic=False)
    html = out.read_text()
    sections = _sections(html)
    assert list(sections) == list(SECTION_IDS)
    assert set(sections.values()) == {"notrun"}
    assert html.count("Not run:") == len(SECTION_IDS)
    assert "synthetic-banner" not in html


def test_partial_results_and_broken_stage(tmp_path: Path) -> None:
    import radiogenomics as rg

    res = tmp_path / "results"
    c = rg.make_cohort(seed=1, n_genes=200)
    rg.differential(c.features, c.feature_labels).write(res / "differential")
    html = render(res, tmp_path / "r.html", synthetic=True).read_text()
    sections = _sections(html)
    assert sections["differential"] == "ok"
    assert sections["models"] == "notrun" and sections["enrichment"] == "notrun"
    assert "synthetic-banner" in html and "SYNTHETIC DATA" in html
    # a stage folder whose table cannot be read is an error naming the file, not a report with holes
    (res / "enrichment").mkdir()
    (res / "enrichment" / "enrichment.parquet").write_bytes(b"not parquet")
    with pytest.raises(rg.DataFileError, match="enrichment.parquet"):
        render(res, tmp_path / "r2.html")
    proc = run_cli("report", "--results", str(res), "--out", str(tmp_path / "r3.html"))
    assert proc.returncode == 2 and "enrichment.parquet" in proc.stderr and not (tmp_path / "r3.html").exists()


def test_full_report_content(results: Path) -> None:
    html = (results / "report" / "report.html").read_text()
    sections = _sections(html)
    for sid in ("cohort", "differential", "association", "top-genes", "enrichment", "similarity", "module",
                "provenance"):
        assert sections[sid] == "ok", sid
    assert sections["gradcam"] == "notrun"  # deep path disabled in .test
    assert "synthetic-banner" in html
    # self-contained: no external resource of any kind
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) >= 6
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in imgs)
    # the differential table shown is the stage's, smallest p first
    diff = pd.read_parquet(results / "differential" / "differential.parquet").sort_values("p_value")
    # the renderer knows no stage's file names: it shows what the stage results hold
    source = (Path(render.__code__.co_filename)).read_text()
    assert ".parquet" not in source and "differential/" not in source and "positive_specific.csv" not in source
    assert html.index(str(diff.index[0])) < html.index(str(diff.index[-1]))


def test_report_cli(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.html"
    proc = run_cli("report", "--results", str(results), "--out", str(out), "--not-synthetic")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("again.html")
    assert "synthetic-banner" not in out.read_text()
    bad = run_cli("report", "--results", str(tmp_path / "nowhere"), "--out", str(out))
    assert bad.returncode == 2 and "nowhere" in bad.stderr
    (tmp_path / "empty").mkdir()
    bad = run_cli("report", "--results", str(tmp_path / "empty"), "--out", str(out))
    assert bad.returncode == 2 and "no stage result" in bad.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it: apt-get install chromium)")
def test_report_in_headless_chromium(results: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the [test] extra) is not installed")
    report = results / "report" / "report.html"
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(report.as_uri(), wait_until="load")
            n_img = page.evaluate("document.images.length")
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)"
            )
            banner = page.locator("#synthetic-banner")
            assert banner.is_visible()
            assert "SYNTHETIC" in banner.inner_text()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=False)
            full = tmp_path / "report_full.png"
            page.screenshot(path=str(full), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert n_img >= 6
    assert broken == []
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    keep = os.environ.get("RADIOGENOMICS_SCREENSHOTS")  # a folder to keep the screenshots in (never the repo)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report_top.png")
        shutil.copy(full, Path(keep) / "report_full.png")
