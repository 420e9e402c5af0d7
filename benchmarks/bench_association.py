"""Benchmark of the perturbation association engine (issue 3).

Runs in one process and prints:
1. the naive reference (../shared/bench/naive_perturbation.py: scipy.stats.pearsonr per pair) and
   the engine on the same small problem, and their ratio (goal >= 1,000x);
2. the engine against a bare numpy matrix product of the same shapes (goal: within 3x);
3. the paper scale (86 features x 20,000 genes x 75 perturbations x 2 classes) with a 100-round
   permutation null: wall time of the association (goal < 10 s) and peak RSS (goal < 2 GiB).

Usage: python benchmarks/bench_association.py [--null 100] [--jobs 2] [--naive-genes 2000]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _goals import goal
from threadpoolctl import threadpool_limits

import radiogenomics as rg
from radiogenomics.association.engine import _standardize

NAIVE = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "naive_perturbation.py"


def frames(U: np.ndarray, E: np.ndarray, n_pos_u: int, n_pos_e: int):
    X = pd.DataFrame(U, index=[f"p{i}" for i in range(U.shape[0])], columns=[f"f{j}" for j in range(U.shape[1])])
    Y = pd.DataFrame(E, index=[f"s{i}" for i in range(E.shape[0])], columns=[f"g{j}" for j in range(E.shape[1])])
    yl = pd.Series((np.arange(U.shape[0]) < n_pos_u).astype(int), index=X.index)
    el = pd.Series((np.arange(E.shape[0]) < n_pos_e).astype(int), index=Y.index)
    return X, Y, yl, el


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--null", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--naive-genes", type=int, default=2000)
    args = ap.parse_args()
    rg.set_verbosity("WARNING")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, radiogenomics {rg.__version__}")

    # ---- 1. naive reference vs engine, same small problem (as the reference's own __main__)
    genes, n_pert, n = args.naive_genes, 2, 30
    rng = np.random.default_rng(1)
    E = rng.lognormal(size=(80, genes))
    U = rng.lognormal(size=(80, 8))
    pairs = 2 * n_pert * 8 * genes
    if NAIVE.exists():
        spec = importlib.util.spec_from_file_location("naive_perturbation", NAIVE)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        t = time.perf_counter()
        mod.naive(U[:40], U[40:], E[:40], E[40:], n_pert, n)
        t_naive = time.perf_counter() - t
    else:
        t_naive = float("nan")
        print(f"naive reference not found at {NAIVE}; skipping the ratio")
    X, Y, yl, el = frames(U, E, 40, 40)
    kw = dict(expression_labels=el, n_perturbations=n_pert, sample_size=n, min_hits=1, n_null=0, show_progress=False)
    rg.associate(X, Y, yl, **kw)  # warm-up
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        rg.associate(X, Y, yl, **kw)
    t_engine = (time.perf_counter() - t) / reps
    print(f"small problem: 2 classes x {n_pert} perturbations x 8 features x {genes} genes, n={n}")
    print(f"  naive (scipy pearsonr per pair): {t_naive:.3f} s = {t_naive / pairs * 1e6:.2f} us/pair")
    print(f"  engine (whole associate() call incl. validation and tables): {t_engine * 1e3:.2f} ms = "
          f"{t_engine / pairs * 1e9:.1f} ns/pair")
    goal("speedup_vs_naive", t_naive / t_engine, "x", ">=", 1000)

    # ---- 3 (data first). paper scale
    F, G = 86, 20000
    rng = np.random.default_rng(2)
    U = rng.lognormal(size=(100, F))
    E = rng.lognormal(size=(400, G))
    X, Y, yl, el = frames(U, E, 40, 100)
    n = 32
    t = time.perf_counter()
    res = rg.associate(X, Y, yl, expression_labels=el, sample_size=n, n_null=0, n_jobs=args.jobs, show_progress=False)
    t_assoc = time.perf_counter() - t

    # ---- 2. bare numpy: the same 150 products of standardised (n x F).T @ (n x G) matrices
    zf = _standardize(rng.standard_normal((75, n, F)))
    ze = _standardize(E[:n])
    with threadpool_limits(limits=1, user_api="blas"):
        t = time.perf_counter()
        for _ in range(2):
            for p in range(75):
                zf[p].T @ ze
        t_bare = time.perf_counter() - t
    t1 = time.perf_counter()
    rg.associate(X, Y, yl, expression_labels=el, sample_size=n, n_null=0, n_jobs=1, show_progress=False)
    t_assoc1 = time.perf_counter() - t1
    print(f"paper scale: {F} features x {G} genes x 75 perturbations x 2 classes, n={n}")
    print(f"  bare numpy products (1 thread): {t_bare:.3f} s; engine n_jobs=1: {t_assoc1:.3f} s "
          f"(ratio {t_assoc1 / t_bare:.2f}); engine n_jobs={args.jobs}: {t_assoc:.3f} s")
    goal("engine_vs_bare_matmul", t_assoc1 / t_bare, "x", "<=", 3)

    t = time.perf_counter()
    res = rg.associate(X, Y, yl, expression_labels=el, sample_size=n, n_null=args.null, n_jobs=args.jobs,
                       show_progress=False)
    t_null = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    ns = res.null_summary
    print(f"  with a {args.null}-round permutation null: {t_null:.1f} s in all "
          f"({(t_null - t_assoc) / max(args.null, 1):.2f} s per null round)")
    shown = ns.expected_binomial.notna()
    print(f"  positive-specific pairs: observed {int(ns.observed.sum())}, permutation null "
          f"{ns.permutation_mean.sum():.0f}; binomial null shown for {int(shown.sum())} of {len(ns)} features "
          f"(log-normal data: withheld)")
    print(f"  peak RSS of this process: {rss:.2f} GiB")
    goal("paper_scale_association", t_assoc, "s", "<", 10)
    goal("paper_scale_peak_rss", rss, "GiB", "<", 2)


if __name__ == "__main__":
    main()
