"""Run the workflow's tiny ``.test`` config once per test session and share the results.

Used by test_workflow.py, test_report.py and test_notebook.py (a plain helper module, not a
test file): the first caller copies ``workflows/.test`` into the session's temporary folder and
runs ``radiogenomics run`` there; later callers reuse the finished results.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from radiogenomics._results import report_paths

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "workflows"
TEST_DIR = WORKFLOWS / ".test"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m radiogenomics.cli`` equivalent (the console script's main) with ``args``."""
    cmd = [sys.executable, "-c", "from radiogenomics.cli import main; main()", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def copy_test_dir(dest: Path) -> Path:
    """A fresh copy of ``workflows/.test`` (config + data, no results) at ``dest``."""
    shutil.copytree(TEST_DIR, dest, ignore=shutil.ignore_patterns("results", ".snakemake"))
    return dest


def workflow_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Results folder of one complete run of the ``.test`` config (run once per session)."""
    base = tmp_path_factory.getbasetemp() / "workflow_test_run"
    results = base / "results"
    if report_paths(results)[0].exists():
        return results
    if base.exists():
        shutil.rmtree(base)
    copy_test_dir(base)
    proc = run_cli("run", "--config", str(base / "config" / "config.yaml"), "--directory", str(base),
                   "--cores", "2", cwd=base)
    if proc.returncode != 0:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((results / "logs").glob("*.log")))
        raise AssertionError(f"workflow failed ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}\n{logs}")
    (base / "run.stdout").write_text(proc.stdout)  # what `run` said (test_workflow checks its last line)
    return results


#: Settings of the small demo the tests run: the real demo's generator and proportions
#: (radiogenomics.datasets.DEMO_SETTINGS: 46 % HER2-positive, the same effects, the paired
#: design), fewer patients, genes, perturbations and splits.
TINY_DEMO = {"n_patients": 120, "positive_fraction": 0.46, "n_validation": 30, "images_per_patient": 1,
             "image_size": 64, "n_expression_positive": 30, "n_expression_negative": 36, "n_genes": 300,
             "n_perturbations": 20, "min_hits": 8, "n_null": 20, "splits": 10}


def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of one complete small demo run with images (``run_demo``), run once per session."""
    from radiogenomics.cli.demo import run_demo

    base = tmp_path_factory.getbasetemp() / "demo_run"
    if report_paths(base / "results")[0].exists():
        return base
    if base.exists():
        shutil.rmtree(base)
    run_demo(base, cores=2, images=True, settings=TINY_DEMO, quiet=True)
    return base
