"""The notebooks run top to bottom (nbclient): the API walk-through from a synthetic cohort to a
validated model, and the exploration of a finished workflow's results through rg.read_results."""

from __future__ import annotations

from pathlib import Path

import pytest
from _workflow_run import REPO, workflow_results

NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return workflow_results(tmp_path_factory)


def _execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results: Path | None) -> str:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if results is not None:
        monkeypatch.setenv("RADIOGENOMICS_RESULTS", str(results))
    else:
        monkeypatch.setenv("RADIOGENOMICS_RESULTS", str(tmp_path / "no-demo-here"))
    monkeypatch.setenv("RADIOGENOMICS_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                   for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_feature_pathway_notebook_on_workflow_results(results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _execute("feature_pathway_links.ipynb", tmp_path, monkeypatch, results)
    assert "synthetic data: True" in text
    assert "feature:" in text
    sub = tmp_path / "feature_subnetwork.graphml"
    import networkx as nx

    assert nx.read_graphml(sub).number_of_nodes() >= 2


def test_api_notebook_from_cohort_to_validated_model(results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _execute("from_cohort_to_model.ipynb", tmp_path, monkeypatch, results)
    assert "synthetic data: True" in text
    # every stage written by the notebook was read back, and the workflow's results too
    assert (tmp_path / "api_results" / "models" / "provenance.json").exists()
    assert "differential" in text and "tables: differential" in text
