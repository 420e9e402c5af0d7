"""Every notebook in notebooks/ runs top to bottom (nbclient) and shows what it must.

Each notebook is executed once, on the workflow's ``.test`` results (the session's shared run,
never re-run here), and its outputs are read back: the tables, printed lines and figures that
notebook exists to show. A notebook added to ``notebooks/`` is executed by the parametrised
test, which fails until :data:`CHECKS` says what its outputs must hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _workflow_run import REPO, workflow_results

NOTEBOOKS = REPO / "notebooks"
ALL_NOTEBOOKS = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return workflow_results(tmp_path_factory)


def _execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results: Path) -> Any:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("RADIOGENOMICS_RESULTS", str(results))
    monkeypatch.setenv("RADIOGENOMICS_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    return nb


def _outputs(nb: Any, tag: str | None = None) -> list[Any]:
    """Outputs of the code cells (of the cell tagged ``tag`` only, which must exist)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and (tag is None or tag in c.metadata.get("tags", []))]
    assert cells, f"no code cell tagged {tag!r}"
    return [o for c in cells for o in c.get("outputs", [])]


def _text(outputs: list[Any]) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)


def _html_tables(outputs: list[Any]) -> list[str]:
    return [str(o["data"]["text/html"]) for o in outputs
            if "text/html" in o.get("data", {}) and "<table" in str(o["data"]["text/html"])]


def _pngs(outputs: list[Any]) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)


def _check_feature_pathway_links(nb: Any, tmp_path: Path, results: Path) -> None:
    import networkx as nx

    import radiogenomics as rg

    text = _text(_outputs(nb))
    assert "synthetic data: True" in text and "SYNTHETIC DATA" in text
    # every table the notebook shows that lists features carries their verdict, beside the feature
    # column; the one table without features is the binomial null's checks (per class, not per feature)
    headers = [html.split("</thead>")[0] for html in _html_tables(_outputs(nb))]
    listing = [h for h in headers if "<th>feature</th>" in h]
    assert len(headers) == 8 and len(listing) == 7
    assert "<th>check</th>" in next(h for h in headers if h not in listing)
    for header in listing:
        cols = re.findall(r"<th>(\w+)</th>", header)
        assert cols[cols.index("feature"):][:4] == ["feature", "empirical_p", "empirical_fdr", "beats_null"], cols
    # the example feature: one that beats the null when any does, with its verdict printed
    feature = re.search(r"^feature: (\S+)$", _text(_outputs(nb, "feature")), re.M).group(1)
    verdict = rg.read_results(results).association.null_verdict()
    if verdict["beats_null"].any():
        assert bool(verdict.loc[feature, "beats_null"])
    v = verdict.loc[feature]
    line = (f"its gene set {'beats' if v['beats_null'] else 'does NOT beat'} the permutation null "
            f"(empirical p {v['empirical_p']:.3g}, empirical FDR {v['empirical_fdr']:.3g})")
    assert line in _text(_outputs(nb, "feature"))
    choice = _html_tables(_outputs(nb, "choice"))[0]
    assert re.search(r"<tbody>.*?<td>([^<]+)</td>", choice, re.S).group(1) == feature  # the first row is followed
    for tag in ("null_figure", "enrichment_figure", "network_figure"):
        assert _pngs(_outputs(nb, tag)) == 1, tag
    assert nx.read_graphml(tmp_path / "feature_subnetwork.graphml").number_of_nodes() >= 2


def _check_from_cohort_to_model(nb: Any, tmp_path: Path, results: Path) -> None:
    text = _text(_outputs(nb))
    assert "synthetic data: True" in text
    # every stage written by the notebook was read back, and the workflow's results too
    assert (tmp_path / "api_results" / "models" / "provenance.json").exists()
    assert "differential" in text and "tables: differential" in text


def _check_models(nb: Any, tmp_path: Path, results: Path) -> None:
    text = _text(_outputs(nb))
    assert "synthetic data: True" in text and "SYNTHETIC DATA" in text
    # the .test run has no clinical table: the notebook draws a synthetic one and says so
    assert "a SYNTHETIC one drawn here" in _text(_outputs(nb, "clinical"))
    # the notebook's rg.evaluate on the feature tables is the run's models stage again
    assert "the same mean split AUCs as the run's models stage: True" in _text(_outputs(nb, "evaluate"))
    summary = _outputs(nb, "summary")
    assert "protocols in the summary: paper, nested" in _text(summary)
    table = _html_tables(summary)[0]
    assert "<th>protocol</th>" in table and ">paper<" in table and ">nested<" in table
    assert table.count(">nested<") == table.count(">paper<") == 2 * 7  # two feature sets, seven classifiers
    assert "inflation" in _html_tables(_outputs(nb, "inflation"))[0]
    for tag in ("split_auc", "roc", "calibration", "decision_curve", "nomogram", "nomogram_calibration"):
        assert _pngs(_outputs(nb, tag)) == 1, tag
    assert "validation cohort" in _text(_outputs(nb, "roc"))
    nomogram = _text(_outputs(nb, "nomogram"))
    for variable in ("radiomic_score", "age", "tumour_size_mm", "grade_G3"):
        assert variable in nomogram
    performance = _html_tables(_outputs(nb, "nomogram_validation"))[0]
    assert ">training<" in performance and ">validation<" in performance


#: What each notebook must show, read from its executed outputs.
CHECKS: dict[str, Callable[[Any, Path, Path], None]] = {
    "feature_pathway_links.ipynb": _check_feature_pathway_links,
    "from_cohort_to_model.ipynb": _check_from_cohort_to_model,
    "models.ipynb": _check_models,
}


def test_every_notebook_is_executed_and_checked() -> None:
    assert {"feature_pathway_links.ipynb", "models.ipynb"} <= set(ALL_NOTEBOOKS)
    assert sorted(CHECKS) == ALL_NOTEBOOKS, "a notebook in notebooks/ without its checks in CHECKS (or the reverse)"


@pytest.mark.slow
def test_feature_pathway_notebook_follows_a_feature_that_beats_the_null(
        results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No feature of the .test run beats the null (5 rounds: empirical p >= 1/6); give one that verdict.

    The feature given it is the one with the *least* significant enrichment term, so the
    notebook follows it only if it prefers a feature that beats the null to a better-enriched one.
    """
    import dataclasses
    import shutil

    import radiogenomics as rg

    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    ran = rg.read_results(copy)
    best_q = ran.enrichment.table.groupby("feature")["q_value"].min().sort_values()
    feature = str(best_q.index[-1])
    ns = ran.association.null_summary.copy()
    ns["beats_null"] = ns["beats_null"].astype(object)
    ns.loc[feature, ["empirical_p", "beats_null"]] = [0.01, True]
    ns["beats_null"] = ns["beats_null"].astype("boolean")
    dataclasses.replace(ran.association, null_summary=ns).write(copy / "association", figures=False)
    assert rg.read_results(copy).association.null_verdict()["beats_null"].sum() == 1
    nb = _execute("feature_pathway_links.ipynb", tmp_path, monkeypatch, copy)
    _check_feature_pathway_links(nb, tmp_path, copy)
    assert f"feature: {feature}\nverdict: its gene set beats the permutation null" in _text(_outputs(nb, "feature"))


@pytest.mark.parametrize("name", ALL_NOTEBOOKS)
def test_notebook_runs_on_workflow_results(name: str, results: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert name in CHECKS, f"{name}: add what its outputs must show to CHECKS"
    nb = _execute(name, tmp_path, monkeypatch, results)
    CHECKS[name](nb, tmp_path, results)
