"""The mixed-precision association kernel: float32 products with the float64 decision.

Hits must be those of the float64 engine and of scipy's ``pearsonr`` rule, pair for pair, also
for pairs placed within the float32 rounding error of the threshold; the torch (GPU) code path
is run on the CPU device.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import radiogenomics as rg
import radiogenomics.association.stage as stage_module
from radiogenomics._validation import ParameterError
from radiogenomics.association import associate, critical_r
from radiogenomics.association import engine as en
from radiogenomics.association import kernel as kn


def _float64_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make associate() run the float64 reference engine (a margin wider than any threshold)."""
    monkeypatch.setattr(stage_module, "decision_margin", lambda n: 1.0)


def _unit(v: np.ndarray) -> np.ndarray:
    v = v - v.mean()
    return v / np.linalg.norm(v)


def _planted(seed: int, *, n: int, offsets: np.ndarray, n_random: int, r_target: float):
    """Paired cohort of one class size ``n`` (sample_size = n: every draw is the whole class, so a
    pair's r is the same in every perturbation): gene j has r = r_target + offsets[j] with
    feature f0 (exactly, up to float64 rounding), then ``n_random`` random genes."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(2 * n)]
    x = rng.standard_normal((2 * n, 3))
    cols = []
    for k, d in enumerate(offsets):
        t = r_target + d if k % 2 == 0 else -(r_target + d)  # both signs of r
        y = np.empty(2 * n)
        for half in (slice(0, n), slice(n, 2 * n)):  # the same r within each class
            a = _unit(x[half, 0])
            w = rng.standard_normal(n)
            w = _unit(w - (w @ a) * a)
            w = _unit(w - (w @ a) * a)
            y[half] = 5.0 + 2.0 * (t * a + np.sqrt(1 - t * t) * w)
        cols.append(y)
    E = np.column_stack(cols + [rng.lognormal(size=(2 * n, n_random))])
    X = pd.DataFrame(x, index=ids, columns=["f0", "f1", "f2"])
    E = pd.DataFrame(E, index=ids, columns=[f"g{j}" for j in range(E.shape[1])])
    labels = pd.Series(np.r_[np.ones(n), np.zeros(n)].astype(int), index=ids)
    return X, E, labels


def _pearsonr_rule(x: np.ndarray, y: np.ndarray, threshold_r: float, alpha: float) -> bool:
    res = stats.pearsonr(x, y)
    return bool(res.pvalue < alpha and abs(res.statistic) > threshold_r)


def test_margin_bounds_the_float32_error_on_random_draws():
    # the derived margin against the real float32 error of the kernel (log-normal data, pools of
    # two sizes): never exceeded, and not absurdly loose
    rng = np.random.default_rng(1)
    for n in (8, 32, 100):
        U = rng.lognormal(size=(400, 7))
        E = rng.lognormal(size=(400, 500)) + rng.standard_normal((400, 1)) * 50  # a shared offset
        pools = {"positive": (np.arange(n + 10), np.arange(n + 20)),
                 "negative": (np.arange(n + 10, 400), np.arange(n + 20, 400))}
        plan = en._draw_plans(rng, pools, n_perturbations=4, sample_size=n, paired=False, permute=False)
        chunk = kn.prepare_chunk(E, {c: pools[c][1] for c in en.CLASSES})
        fz = en._feature_z_both(U, plan, None)
        margin = kn.decision_margin(n)
        worst = 0.0
        for c in en.CLASSES:
            rows = plan[c].expression_rows
            z64 = en._standardize(E[rows])
            for p in range(4):
                r64 = fz[c][0][p].T @ z64[p]
                yd = chunk.pools[c][chunk.position[c][rows[p]]]
                mean = yd.sum(axis=0) / np.float32(n)
                yd = yd - mean
                yd *= np.float32(1) / np.sqrt(np.einsum("ij,ij->j", yd, yd))
                r32 = (yd.T @ fz[c][1][p]).T
                worst = max(worst, float(np.abs(r32.astype(float) - r64).max()))
                if kn.USE_NUMBA:  # the fused loops' float32 standardisation
                    out, bad = np.empty_like(yd), np.empty(yd.shape[1], dtype=bool)
                    kn._draw_standardize(chunk.pools[c], chunk.position[c][rows[p]], out,
                                         chunk.floor[c] * np.float32(n), np.float32(kn.KAPPA_MAX ** 2 - 1), bad)
                    assert not bad.any()
                    r32 = (out.T @ fz[c][1][p]).T
                    worst = max(worst, float(np.abs(r32.astype(float) - r64).max()))
        assert worst < margin, (n, worst, margin)
        assert margin < 200 * worst  # a bound, but a useful one


@pytest.fixture(params=["numba", "numpy"])
def kernel_loops(request, monkeypatch):
    """Run a test with the fused numba loops and with the plain NumPy ones."""
    if request.param == "numba" and not kn.USE_NUMBA:
        pytest.skip("numba not installed")
    monkeypatch.setattr(kn, "USE_NUMBA", request.param == "numba")
    return request.param


@pytest.mark.parametrize("n", [12, 32])
def test_pairs_at_the_threshold_get_the_float64_and_pearsonr_decision(n, monkeypatch, kernel_loops):
    # pairs placed at threshold ± d, d from far outside the float32 error (1e-3) to far inside it
    # (1e-10); a bare float32 decision gets the inner ones wrong, the kernel must not
    alpha, r_thr = 0.05, 0.3
    t = max(r_thr, critical_r(n, alpha))
    ds = np.array([1e-3, 3e-5, 1e-5, 4e-6, 2e-6, 1e-6, 3e-7, 1e-7, 1e-8, 1e-9, 1e-10])
    offsets = np.concatenate([ds, -ds, ds, -ds])
    X, E, y = _planted(3, n=n, offsets=offsets, n_random=300, r_target=t)
    kw = dict(mode="paired", n_perturbations=3, sample_size=n, min_hits=1, n_null=0, seed=2,
              show_progress=False, r_threshold=r_thr, alpha=alpha)
    mixed = associate(X, E, y, **kw)
    assert mixed.parameters["precision"] == "mixed"
    with monkeypatch.context() as m:
        _float64_engine(m)
        ref = associate(X, E, y, **kw)
    assert ref.parameters["precision"] == "float64"
    for cls in ("positive", "negative"):
        pd.testing.assert_frame_equal(mixed.hits[cls], ref.hits[cls])
    # the planted pairs: a hit exactly when r is above the threshold, as pearsonr says
    for cls, half in (("positive", slice(0, n)), ("negative", slice(n, 2 * n))):
        for j, d in enumerate(offsets):
            expected = _pearsonr_rule(X["f0"].to_numpy()[half], E[f"g{j}"].to_numpy()[half], r_thr, alpha)
            assert expected == (d > 0)
            assert mixed.hits[cls].loc["f0", f"g{j}"] == 3 * expected, (cls, j, d)
        # every other pair too (random genes and features): pearsonr on the whole class
        for f in ("f1", "f2"):
            for g in E.columns[:: 7]:
                expected = _pearsonr_rule(X[f].to_numpy()[half], E[g].to_numpy()[half], r_thr, alpha)
                assert mixed.hits[cls].loc[f, g] == 3 * expected


def test_float32_alone_would_be_wrong_here_and_the_recheck_fixes_it(kernel_loops):
    # the kernel's own float32 decision misses pairs inside the band; the float64 recheck restores
    # the float64 engine's counts exactly
    n = 32
    t = max(0.3, critical_r(n, 0.05))
    ds = np.array([2e-6, 1e-6, 3e-7, 1e-7, 1e-8])
    X, E, y = _planted(4, n=n, offsets=np.concatenate([ds, -ds] * 4), n_random=50, r_target=t)
    pools = {"positive": (np.arange(n), np.arange(n)), "negative": (np.arange(n, 2 * n), np.arange(n, 2 * n))}
    plan = en._draw_plans(np.random.default_rng(0), pools, n_perturbations=5, sample_size=n, paired=True,
                          permute=False)
    fv, ev = X.to_numpy(), E.to_numpy()
    chunk = kn.prepare_chunk(ev, {c: pools[c][1] for c in en.CLASSES})
    fz = en._feature_z_both(fv, plan, None)
    hi, lo = kn._bounds(t, kn.decision_margin(n))
    n_near = 0
    for c in en.CLASSES:
        rows = plan[c].expression_rows
        sure, near, flagged = kn.class_counts_numpy(chunk, c, fz[c][1], rows, hi, lo, np.dtype(np.uint8))
        n_near += int((near != sure).sum())
        exact = kn.exact_counts(chunk, c, fz[c][0], rows, t, sure.copy(), near, flagged)
        ref = en._class_counts(fz[c][0], ev, rows, t, np.dtype(np.uint8))
        np.testing.assert_array_equal(exact, ref)
    assert n_near >= 2 * 20  # every planted pair (10 per class and sign) was in the band


def test_identical_hits_and_null_for_any_jobs_chunks_backend_and_the_torch_path(monkeypatch):
    torch = pytest.importorskip("torch")
    c = rg.make_cohort(seed=6, n_genes=500)
    kw = dict(expression_labels=c.expression_labels, n_null=4, seed=21, show_progress=False, sample_size=12)
    with monkeypatch.context() as m:
        _float64_engine(m)
        ref = associate(c.features, c.expression, c.feature_labels, **kw)
    runs = [
        associate(c.features, c.expression, c.feature_labels, **kw),
        associate(c.features, c.expression, c.feature_labels, n_jobs=2, chunk_size=77, **kw),
        associate(c.features, c.expression, c.feature_labels, n_jobs=2, chunk_size=200, backend="processes", **kw),
        associate(c.features, c.expression, c.feature_labels, backend="dask", chunk_size=130, **kw),
        # the GPU code path (torch tensors, TF32 off) on the CPU device
        associate(c.features, c.expression, c.feature_labels, device=torch.device("cpu"), chunk_size=300, **kw),
    ]
    assert runs[-1].parameters["device"] == "cpu" and runs[-1].parameters["precision"] == "mixed"
    assert runs[0].parameters["device_used"] == "cpu" or torch.cuda.is_available()
    for res in runs:
        for cls in ("positive", "negative"):
            pd.testing.assert_frame_equal(res.hits[cls], ref.hits[cls])
        pd.testing.assert_frame_equal(res.null_counts, ref.null_counts)


def test_torch_kernel_equals_numpy_kernel_on_cpu_tensors(kernel_loops):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    n = 20
    U, E = rng.lognormal(size=(60, 5)), rng.lognormal(size=(90, 300))
    E[:, 7] = 3.0  # a constant gene
    E[:40, 8] = 0.0  # zero-inflated: some draws constant
    pools = {"positive": (np.arange(30), np.arange(40)), "negative": (np.arange(30, 60), np.arange(40, 90))}
    plan = en._draw_plans(rng, pools, n_perturbations=6, sample_size=n, paired=False, permute=True)
    t = max(0.3, critical_r(n, 0.05))
    hi, lo = kn._bounds(t, kn.decision_margin(n))
    chunk = kn.prepare_chunk(E, {c: pools[c][1] for c in en.CLASSES})
    dev = {f: {c: torch.as_tensor(a) for c, a in getattr(chunk, f).items()} for f in ("pools", "position", "floor")}
    tchunk = kn.PreparedChunk(chunk.start, torch.as_tensor(chunk.values), dev["pools"], chunk.centre, chunk.scale,
                              dev["position"], dev["floor"])
    fz = en._feature_z_both(U, plan, None)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    for c in en.CLASSES:
        rows = plan[c].expression_rows
        a = kn.class_counts_numpy(chunk, c, fz[c][1], rows, hi, lo, np.dtype(np.uint8))
        with kn.no_tf32():
            assert not torch.backends.cuda.matmul.allow_tf32
            rt = torch.as_tensor(rows)
            sure, near, bad = kn.class_counts_torch(tchunk, c, torch.as_tensor(fz[c][1]), rt, hi, lo)
            eb = kn.exact_counts_torch(tchunk, c, torch.as_tensor(fz[c][0]), rt, t, sure, near, bad).numpy()
        ea = kn.exact_counts(chunk, c, fz[c][0], rows, t, a[0].copy(), a[1], a[2])
        ref = en._class_counts(fz[c][0], E, rows, t, np.dtype(np.uint8))
        np.testing.assert_array_equal(ea, ref)
        np.testing.assert_array_equal(eb, ref)
        assert {g for _, gs in a[2] for g in gs} >= {7}  # the constant gene went to float64
        assert bad[:, 7].all()
    assert torch.backends.cuda.matmul.allow_tf32 == tf32  # the TF32 setting is restored after the kernel


def test_null_rounds_are_seeded_alone_and_timed():
    # round k has its own seed: the first rounds of a longer null are the rounds of a shorter one
    c = rg.make_cohort(seed=8, n_genes=300)
    kw = dict(expression_labels=c.expression_labels, seed=4, show_progress=False, sample_size=12)
    short = associate(c.features, c.expression, c.feature_labels, n_null=3, **kw)
    long = associate(c.features, c.expression, c.feature_labels, n_null=7, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(short.null_counts, long.null_counts.iloc[:3])
    timing = long.parameters["timing"]
    assert timing["null_seconds_per_round"] > 0
    assert timing["null_seconds"] == pytest.approx(7 * timing["null_seconds_per_round"])


def test_device_choices(monkeypatch):
    import importlib.util

    c = rg.make_cohort(seed=8, n_genes=120)
    kw = dict(expression_labels=c.expression_labels, n_null=0, show_progress=False, sample_size=12)
    with pytest.raises(ParameterError, match="device"):
        associate(c.features, c.expression, c.feature_labels, device="gpu", **kw)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no CUDA GPU"):
            associate(c.features, c.expression, c.feature_labels, device="cuda", **kw)
        assert en.resolve_device("auto") is None
    assert en.resolve_device("cpu") is None
    assert en.resolve_device("auto", backend="dask") is None
    # without torch, "auto" is the CPU engine
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    monkeypatch.setattr(en, "_gpu_present", lambda: True)
    assert en.resolve_device("auto") is None
    res = associate(c.features, c.expression, c.feature_labels, **kw)
    assert res.parameters["device"] == "auto"


def test_package_imports_without_torch():
    import subprocess
    import sys

    code = ("import importlib.abc, sys\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ImportError('no torch here')\n"
            "sys.meta_path.insert(0, Block())\n"
            "import radiogenomics as rg\n"
            "c = rg.make_cohort(seed=1, n_genes=120)\n"
            "r = rg.associate(c.features, c.expression, c.feature_labels, expression_labels=c.expression_labels,"
            " n_null=2, sample_size=12, show_progress=False)\n"
            "print('torch' in sys.modules, r.parameters['precision'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False mixed")


def test_real_scanb_expression_gets_the_float64_hits(scanb, monkeypatch):
    # SCAN-B log2 FPKM, rounded to one decimal: ties, low genes constant in many draws (the
    # flagged-column path) and skewed columns; the mixed engine must still be the float64 one
    expr, samples = scanb
    labels = samples.set_index("title")["her2_status"].dropna().astype(int)
    expr = expr.loc[expr.index.intersection(labels.index)]
    sd = expr.std()
    genes = list(sd.sort_values().index[:300]) + list(expr.columns[::20])  # the flattest genes too
    expr = expr.loc[:, list(dict.fromkeys(genes))]
    el = labels.reindex(expr.index)
    rng = np.random.default_rng(5)
    ids = [f"p{i}" for i in range(60)]
    X = pd.DataFrame(rng.lognormal(size=(60, 6)), index=ids, columns=[f"f{j}" for j in range(6)])
    X["f5"] = np.round(X["f5"], 1)  # ties on the feature side too
    y = pd.Series(np.r_[np.ones(25), np.zeros(35)].astype(int), index=ids)
    kw = dict(expression_labels=el, n_perturbations=20, sample_size=20, min_hits=2, n_null=3, seed=3,
              show_progress=False)
    mixed = associate(X, expr, y, **kw)
    with monkeypatch.context() as m:
        _float64_engine(m)
        ref = associate(X, expr, y, **kw)
    for cls in ("positive", "negative"):
        pd.testing.assert_frame_equal(mixed.hits[cls], ref.hits[cls])
        assert ref.hits[cls].to_numpy().sum() > 0
    pd.testing.assert_frame_equal(mixed.null_counts, ref.null_counts)


def test_null_rounds_on_a_distributed_cluster_report_each_round():
    distributed = pytest.importorskip("distributed")
    c = rg.make_cohort(seed=9, n_genes=300)
    kw = dict(expression_labels=c.expression_labels, n_null=4, seed=5, show_progress=False, sample_size=12)
    ref = associate(c.features, c.expression, c.feature_labels, **kw)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        res = associate(c.features, c.expression, c.feature_labels, backend="dask", scheduler=client,
                        chunk_size=100, **kw)
        # the engine itself: one report per finished round
        pools = {"positive": (np.arange(30), np.arange(40)), "negative": (np.arange(30, 60), np.arange(40, 90))}
        rng = np.random.default_rng(0)
        U, E = rng.standard_normal((60, 4)), rng.standard_normal((90, 120))
        eng = en.MixedEngine(U, E, {k: pools[k][1] for k in en.CLASSES}, 0.5, 12, np.dtype(np.uint8), 50,
                             backend="dask", scheduler=client)
        seq = np.random.SeedSequence(1)
        plans = [en.null_plan(seq, k, pools, n_perturbations=5, sample_size=12, paired=False) for k in range(3)]
        ticks = []
        out = eng.run(plans, reduce=en.specific_reducer(1), on_done=ticks.append)
        assert ticks == [1, 1, 1]
        alone = eng.run(plans[2:], reduce=en.specific_reducer(1))  # a round recomputed alone
        np.testing.assert_array_equal(alone[0], out[2])
    for cls in ("positive", "negative"):
        pd.testing.assert_frame_equal(res.hits[cls], ref.hits[cls])
    pd.testing.assert_frame_equal(res.null_counts, ref.null_counts)
