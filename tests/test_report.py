"""The HTML report: self-contained, every section present and introduced, "not run" notes for missing
stages, the SYNTHETIC banner, and a real headless Chromium reading it: per-section text and figures,
the Cytoscape.js module network (counts, search, click), sortable tables; plus the static network PNG."""

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
    # the .test title already says SYNTHETIC DATA: the renderer does not append it again
    assert re.search(r"<title>([^<]*)</title>", html).group(1).count("SYNTHETIC DATA") == 1
    assert html.count('<p class="intro">') == len(SECTION_IDS)  # every section opens with what it shows
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
    """The page as a reader sees it: each section's text and figures, the network view, search, click, sorting."""
    import radiogenomics as rg
    from radiogenomics.report.render import CYTOSCAPE_VERSION

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the [test] extra) is not installed")
    mod = rg.read_results(results).module
    nodes, edges = mod.network_nodes, mod.network_edges
    assert len(nodes) == mod.graph.number_of_nodes() > 0 and len(edges) == mod.graph.number_of_edges() > 0
    # the feature to click: a module member linked to terms and genes (its panel must list exactly those)
    label = dict(zip(nodes["id"], nodes["label"].astype(str)))

    def neighbours(node: str, kind: str) -> list[str]:
        e = edges[edges["kind"] == kind]
        return sorted(label[b] for s, t in zip(e["source"], e["target"]) for a, b in ((s, t), (t, s)) if a == node)

    member = next(f for f in mod.members if neighbours(f"feature:{f}", "enrichment")
                  and neighbours(f"feature:{f}", "association"))
    node_id = f"feature:{member}"
    want_terms, want_genes = neighbours(node_id, "enrichment"), neighbours(node_id, "association")
    report = results / "report" / "report.html"
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(report.as_uri(), wait_until="load")
            title = page.title()
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)")
            assert page.locator("#synthetic-banner").is_visible()
            assert "SYNTHETIC" in page.locator("#synthetic-banner").inner_text()
            seen = {sid: _section_in_page(page, sid) for sid in MUST_SHOW}
            # the Cytoscape.js view: the module's nodes and edges, by kind
            page.wait_for_function("window.rgNetwork !== undefined")
            view = page.evaluate("""() => { const k = {}; rgNetwork.nodes().forEach(n => {
                k[n.data('kind')] = (k[n.data('kind')] || 0) + 1; });
                return {nodes: rgNetwork.nodes().length, edges: rgNetwork.edges().length, kinds: k,
                        version: cytoscape.version,
                        hollow: rgNetwork.nodes('[verdict = "chance"]').length,
                        inside: rgNetwork.nodes().filter(n => { const b = rgNetwork.extent(), p = n.position();
                            return p.x >= b.x1 && p.x <= b.x2 && p.y >= b.y1 && p.y <= b.y2; }).length}; }""")
            # search: every node whose label holds the text, and only those, is highlighted
            query = member.removeprefix("original_")[:12].lower()
            page.fill("#network-search", query)
            matched = page.evaluate("rgNetwork.nodes('.match').map(n => n.data('label'))")
            match_note = page.inner_text("#network-matches")
            page.click("#network-reset")
            after_reset = page.evaluate("rgNetwork.nodes('.match, .faded').length")
            # click: a real mouse click on the feature's node opens its genes and terms in the side panel
            page.evaluate("document.getElementById('network-view').scrollIntoView({block: 'center'})")
            # Cytoscape.js maps a click through the container offset it caches on scroll events, which
            # arrive asynchronously: let two frames pass so that the cache is current before clicking
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            xy = page.evaluate("""id => { const n = rgNetwork.getElementById(id), p = n.renderedPosition(),
                b = rgNetwork.container().getBoundingClientRect(); return [b.left + p.x, b.top + p.y]; }""", node_id)
            page.mouse.click(*xy)
            page.wait_for_selector("#network-panel-title")
            focus = page.evaluate("rgNetwork.nodes('.focus').map(n => n.id())")
            panel_title = page.inner_text("#network-panel-title")
            panel_terms = sorted(li.split(" (q ")[0] for li in page.locator("#network-panel ul.panel-terms li").all_inner_texts())
            panel_genes = sorted(page.locator("#network-panel ul.panel-genes li").all_inner_texts())
            # sortable tables: the differential table by p-value, then reversed
            col = """() => { const t = document.querySelector('#differential table.sortable');
                const i = Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent.trim() === 'p_value');
                return Array.from(t.tBodies[0].rows).map(r => Number(r.cells[i].textContent)); }"""
            header = page.locator("#differential table.sortable thead th", has_text="p_value")
            header.click()
            ascending = page.evaluate(col)
            header.click()
            descending = page.evaluate(col)
            # the banner stays on screen at the bottom of the page
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            strip = page.locator("#synthetic-strip").bounding_box()
            page.evaluate("window.scrollTo(0, 0)")
            full = tmp_path / "report_full.png"
            page.screenshot(path=str(full), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert broken == []
    assert title.count("SYNTHETIC DATA") == 1, title
    for sid, (texts, n_figures) in MUST_SHOW.items():
        intro, text, captions, alts = seen[sid]
        assert intro.count(". ") >= 1 and len(intro) > 150, (sid, intro)
        for t in texts:
            assert t in text, (sid, t)
        assert len(captions) >= n_figures, (sid, captions)
        assert alts == captions, sid  # alt text = caption
        for c in captions:  # a sentence, never a figure's file name ("lasso", "split auc")
            assert len(c) > 40 and " " in c and not re.fullmatch(r"[\w ]+", c), (sid, c)
    split_caption = next(c for c in seen["models"][2] if "split" in c.lower())
    assert "paper" in split_caption.lower() or "nested" in split_caption.lower(), split_caption
    assert view["version"] == CYTOSCAPE_VERSION
    assert (view["nodes"], view["edges"]) == (len(nodes), len(edges))
    assert view["kinds"] == nodes["kind"].value_counts().to_dict()
    assert view["inside"] == len(nodes)
    chance = nodes[(nodes["kind"] == "feature") & nodes["beats_null"].astype("boolean").eq(False).fillna(False)]
    assert view["hollow"] == len(chance)
    expected = sorted(v for v in label.values() if query in v.lower())
    assert sorted(matched) == expected and member in matched
    assert match_note.startswith(f"{len(expected)} match")
    assert after_reset == 0
    assert focus == [node_id] and panel_title == member
    assert panel_terms == want_terms and panel_genes == want_genes
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True) and len(ascending) > 3
    assert strip is not None and strip["y"] <= 1 and strip["height"] > 10
    assert full.read_bytes().startswith(b"\x89PNG") and full.stat().st_size > 100_000
    shutil.copy(full, "/tmp/report_full.png")  # to look at (never into the repository)
    keep = os.environ.get("RADIOGENOMICS_SCREENSHOTS")  # a folder to keep the screenshots in (never the repo)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(full, Path(keep) / "report_full.png")


#: Per section of the .test run: texts it must hold and how many figures (each with a caption) at least.
MUST_SHOW: dict[str, tuple[tuple[str, ...], int]] = {
    "cohort": (("Samples per cohort", "Imaging feature table"), 1),
    "differential": (("Wilcoxon", "smallest p first", "p_value", "q_value"), 2),
    "association": (("permutation null", "Null model per feature", "empirical_p", "beats_null"), 1),
    "top-genes": (("n_features_beating_null",), 0),
    "enrichment": (("hypergeometric", "Enriched terms"), 1),
    "similarity": (("Simpson index",), 1),
    "module": (("The interactive network holds", "Feature module", "Click a feature"), 1),
    "models": (("Paper:", "Nested:", "Feature sets compared", "'differential'", "'module'", "auc_mean"), 2),
    "validation": (("Validation cohort: AUC", "delong_low"), 2),
    "calibration": (("diagonal",), 1),
    "dca": (("treat-all",), 1),
    "pca": (("Principal components",), 1),
    "provenance": (("Package versions", "Full provenance record of", "seed"), 0),
}


def _section_in_page(page, sid: str) -> tuple[str, str, list[str], list[str]]:
    """(intro, whole text, figure captions, image alt texts) of one section, as the browser renders them."""
    sec = page.locator(f"section#{sid}")
    assert sec.get_attribute("class") == "ok", sid
    return (sec.locator("p.intro").inner_text(), sec.inner_text(),
            sec.locator("figure figcaption").all_inner_texts(),
            [a or "" for a in sec.locator("figure img").evaluate_all("imgs => imgs.map(i => i.alt)")])


def test_provenance_is_compact_with_the_full_record_collapsed(results: Path) -> None:
    import radiogenomics as rg

    html = (results / "report" / "report.html").read_text()
    prov = html[html.index('<section id="provenance"'):]
    records = rg.read_results(results).provenance
    assert prov.count("<details>") == len(records) > 5  # one collapsed full record per stage, closed by default
    assert "<details open" not in prov
    for folder, rec in records.items():
        block = prov[prov.index(f'id="provenance-{folder.replace("/", "-")}"'):]
        block = block[:block.index("</details>")]
        compact = block[:block.index("<details>")]
        for key, value in (rec.get("parameters") or {}).items():
            assert f"<td>{key}</td>" in compact  # every parameter has a row; long values are summarised
            if isinstance(value, (int, float, bool)) and not isinstance(value, bool):
                assert f"<td>{value}</td>" in compact or f"<td>{value:.4g}</td>" in compact, (folder, key)
        assert "<pre>" in block and len(compact) < len(block)


def test_cytoscape_ships_with_the_package_and_its_licence() -> None:
    import tomllib
    from fnmatch import fnmatch
    from importlib.resources import files

    from radiogenomics.report.render import CYTOSCAPE_VERSION

    vendor = files("radiogenomics.report").joinpath("vendor")
    js = vendor.joinpath("cytoscape.min.js").read_text(encoding="utf-8")
    licence = vendor.joinpath("cytoscape.LICENSE").read_text(encoding="utf-8")
    assert js.startswith("/**\n * Copyright (c) 2016-") and f'"{CYTOSCAPE_VERSION}"' in js and len(js) > 300_000
    assert "The Cytoscape Consortium" in licence and "Permission is hereby granted, free of charge" in licence
    # a wheel carries them too: pyproject's package data matches both files
    data = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["radiogenomics"]
    for name in ("report/vendor/cytoscape.min.js", "report/vendor/cytoscape.LICENSE"):
        assert any(fnmatch(name, p) for p in patterns), name


def test_static_network_shows_the_module_with_labels_that_do_not_overlap(results: Path, tmp_path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    import radiogenomics as rg
    from radiogenomics.plotting import plot_network

    mod = rg.read_results(results).module
    fig = plot_network(mod.graph)
    fig.savefig(tmp_path / "network.png", dpi=100)
    shutil.copy(tmp_path / "network.png", "/tmp/network_static.png")  # to look at (never into the repository)
    renderer = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_text() and t.get_position()[1] >= 0]  # node labels (not the headers)
    terms = sorted(str(d["label"]) for _, d in mod.graph.nodes(data=True) if d.get("kind") == "term")
    shown = [t.get_text() for t in texts]
    assert len(shown) == len(mod.members) + len(terms)  # only the module: its features and their terms
    assert all(any(s.startswith(t[:20]) for s in shown) for t in terms)  # every term labelled
    boxes = [t.get_window_extent(renderer) for t in texts]
    overlaps = [(shown[i], shown[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                if boxes[i].overlaps(boxes[j])]
    assert overlaps == []
    fig_box = fig.bbox
    assert all(fig_box.x0 <= b.x0 and b.x1 <= fig_box.x1 for b in boxes)  # no label cut at the edge


def test_a_figure_without_caption_gets_a_sentence_not_its_file_name() -> None:
    from matplotlib.figure import Figure

    from radiogenomics.report.render import _fallback_caption

    fig = Figure()
    fig.add_subplot().set_title("LASSO path")
    text = _fallback_caption(fig, "models_lasso")
    assert text == ("LASSO path. LASSO (L1 logistic regression): cross-validated AUC along the penalty path and the "
                    "selected features.")
    assert _fallback_caption(Figure(), "models_split_auc") == "Test AUC of each classifier over the repeated train/test splits."
    assert _fallback_caption(Figure(), "deep_something") == "Figure of the deep stage."
