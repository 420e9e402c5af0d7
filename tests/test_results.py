"""The stage contract itself: one layout table, whole-or-absent writes, the user's umask,
read_results with absent stages, and the same members on every stage's result."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

import radiogenomics as rg
from radiogenomics._results import LAYOUT, StageResult, _result_class, read_results, stage_folder


@pytest.fixture(scope="module")
def cohort():
    return rg.make_cohort(seed=4, n_genes=200)


def test_every_stage_result_has_the_same_members() -> None:
    for stage in LAYOUT:
        if stage == "deep":
            pytest.importorskip("torch")
        cls = _result_class(stage)
        # models_deep is a second models stage (on the cross-fitted deep features): the models result
        own = "models" if stage == "models_deep" else stage
        assert issubclass(cls, StageResult) and cls.stage == own
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, stage
        names = {f.name for f in dataclasses.fields(cls)}
        assert {"parameters", "dropped", "synthetic"} <= names, stage
        for member in ("tables", "figures", "write", "read", "overview"):
            assert callable(getattr(cls, member)), (stage, member)
        # every table the layout names is a member of the result
        attrs = {cls.TABLE_ATTRS.get(t, t) for t in LAYOUT[stage].tables}
        assert attrs <= names | {"dropped"}, (stage, attrs - names)


def test_outputs_follow_the_users_umask(cohort, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        rg.differential(cohort.features, cohort.feature_labels).write(tmp_path / "diff")
    finally:
        os.umask(old)
    folder = tmp_path / "diff"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert set(modes.values()) == {0o644}, modes


def test_a_failed_write_leaves_the_earlier_result_whole(cohort, tmp_path: Path, monkeypatch) -> None:
    res = rg.differential(cohort.features, cohort.feature_labels)
    res.write(tmp_path / "diff")
    before = {p.name: p.read_bytes() for p in (tmp_path / "diff").iterdir()}
    import radiogenomics._results as results_module

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results_module, "write_table", broken)
    with pytest.raises(OSError, match="No space"):
        rg.differential(cohort.features, cohort.feature_labels, threshold=0.2).write(tmp_path / "diff")
    after = {p.name: p.read_bytes() for p in (tmp_path / "diff").iterdir()}
    assert after == before  # not a mix of two runs
    assert [p.name for p in tmp_path.iterdir()] == ["diff"]  # no temporary folder left behind


def test_read_results_gives_none_for_stages_that_did_not_run(cohort, tmp_path: Path) -> None:
    rg.differential(cohort.features, cohort.feature_labels).write(stage_folder("differential", tmp_path))
    res = read_results(tmp_path)
    assert res.differential is not None and res.association is None and res.models is None
    assert list(res.stages()) == ["differential"] and res.synthetic is True
    assert "differential" in res.provenance
    with pytest.raises(rg.MissingDataFileError, match="nowhere"):
        read_results(tmp_path / "nowhere")
    # a table of the stage read back is the same table
    pd.testing.assert_frame_equal(res.differential.table, rg.differential(cohort.features, cohort.feature_labels).table)
