"""The exploration notebook runs top to bottom (nbclient) on a finished workflow's results."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _workflow_run import REPO, workflow_results

NOTEBOOK = REPO / "notebooks" / "feature_pathway_links.ipynb"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return workflow_results(tmp_path_factory)


def test_notebook_executes_on_workflow_results(results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("RADIOGENOMICS_RESULTS", str(results))
    monkeypatch.setenv("RADIOGENOMICS_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "synthetic data: True" in text
    assert "feature:" in text
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    sub = tmp_path / "feature_subnetwork.graphml"
    assert sub.exists()
    import networkx as nx

    graph = nx.read_graphml(sub)
    assert graph.number_of_nodes() >= 2
    assert os.environ["RADIOGENOMICS_RESULTS"] == str(results)
