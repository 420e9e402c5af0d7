"""Benchmark of the perturbation association engine (issues 3 and 17).

Runs in one process and prints:
1. the naive reference (../shared/bench/naive_perturbation.py: scipy.stats.pearsonr per pair) and
   the engine on the same small problem, and their ratio (goal >= 1,000x);
2. at the paper scale (86 features x 20,000 genes x 75 perturbations x 2 classes, n = 32): the
   bare float64 and float32 products of the same shapes (per round, 1 thread and ``--jobs``
   threads; in both orientations with fresh outputs, and by 4,096-gene blocks into a reused
   buffer as the engine computes them; the fastest is the reference), the float64 engine (observed round and a few null rounds) and the mixed-precision
   engine (float32 products, float64 decision near the threshold);
3. the whole association with a 100-round permutation null (goal < 30 s on 2 cores), the null
   round against the bare float32 products (goal <= 1.5x), the hits of the two engines compared
   pair by pair (goal: 0 differing), peak RSS (goal < 2 GiB);
4. with CUDA, the same on the GPU (goal: 100 rounds < 3 s); without, "skipped: no CUDA".

Usage: python benchmarks/bench_association.py [--null 100] [--jobs 2] [--naive-genes 2000] [--f64-rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
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
    ap.add_argument("--f64-rounds", type=int, default=3)
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

    # ---- 2. paper scale: bare products, the float64 engine, the mixed engine
    F, G = 86, 20000
    rng = np.random.default_rng(2)
    U = rng.lognormal(size=(100, F))
    E = rng.lognormal(size=(400, G))
    X, Y, yl, el = frames(U, E, 40, 100)
    n = 32
    base = dict(expression_labels=el, sample_size=n, show_progress=False)
    print(f"paper scale: {F} features x {G} genes x 75 perturbations x 2 classes, n={n}; "
          f"jobs={args.jobs}; machine load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    zf = _standardize(rng.standard_normal((75, n, F)))
    ze = _standardize(E[:n])
    bare = {}
    for name, dt in (("float64", np.float64), ("float32", np.float32)):
        a_, b_ = zf.astype(dt), ze.astype(dt)
        bt = np.ascontiguousarray(b_.T)
        for orient in ORIENTATIONS:
            for jobs in (1, args.jobs):
                bare[name, orient, jobs] = _bare_round(a_, b_ if orient == "F x G" else bt, orient, jobs)
    for name in ("float64", "float32"):
        print(f"  bare {name} products per round (150 of n x {F} by n x {G}): " + ", ".join(
            f"{o} {j} thread(s) {bare[name, o, j]:.3f} s" for o in ORIENTATIONS for j in sorted({1, args.jobs})))
    bare32 = min(bare["float32", o, args.jobs] for o in ORIENTATIONS)  # the fastest bare product is the reference
    bare64_1 = min(bare["float64", o, 1] for o in ORIENTATIONS)

    with float64_engine():
        t = time.perf_counter()
        ref = rg.associate(X, Y, yl, n_null=args.f64_rounds, n_jobs=args.jobs, **base)
        t_f64 = time.perf_counter() - t
    tf = ref.parameters["timing"]
    print(f"  float64 engine (n_jobs={args.jobs}): observed round {tf['observed_seconds']:.2f} s, null "
          f"{tf['null_seconds_per_round']:.2f} s per round ({args.f64_rounds} rounds; whole call {t_f64:.1f} s)")

    t = time.perf_counter()
    res = rg.associate(X, Y, yl, n_null=0, n_jobs=args.jobs, **base)
    t_assoc = time.perf_counter() - t
    t1 = time.perf_counter()
    rg.associate(X, Y, yl, n_null=0, n_jobs=1, **base)
    t_assoc1 = time.perf_counter() - t1
    print(f"  mixed engine, observed association: n_jobs=1 {t_assoc1:.2f} s, n_jobs={args.jobs} {t_assoc:.2f} s "
          f"(decision margin {res.parameters['decision_margin']:.2e} in r)")
    goal("engine_vs_bare_matmul", t_assoc1 / bare64_1, "x", "<=", 3)

    t = time.perf_counter()
    res = rg.associate(X, Y, yl, n_null=args.null, n_jobs=args.jobs, **base)
    t_null = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    tm = res.parameters["timing"]
    per_round = tm["null_seconds_per_round"]
    ns = res.null_summary
    print(f"  mixed engine with a {args.null}-round permutation null: {t_null:.1f} s in all "
          f"({per_round:.3f} s per null round; float64 engine {tf['null_seconds_per_round']:.2f} s, "
          f"{tf['null_seconds_per_round'] / per_round:.1f}x slower)")
    shown = ns.expected_binomial.notna()
    print(f"  positive-specific pairs: observed {int(ns.observed.sum())}, permutation null "
          f"{ns.permutation_mean.sum():.0f}; binomial null shown for {int(shown.sum())} of {len(ns)} features "
          f"(log-normal data: withheld)")
    print(f"  peak RSS of this process: {rss:.2f} GiB")
    diff = sum(int((res.hits[c].to_numpy() != ref.hits[c].to_numpy()).sum()) for c in ("positive", "negative"))
    k = min(args.f64_rounds, args.null)
    diff += int((res.null_counts.iloc[:k].to_numpy() != ref.null_counts.iloc[:k].to_numpy()).sum())
    print(f"  hits compared pair by pair: observed round (2 x {F} x {G}) and the positive-specific counts of "
          f"{k} null round(s)")
    goal("paper_scale_association", t_assoc, "s", "<", 10)
    goal(f"paper_scale_null_{args.null}_rounds", t_null, "s", "<", 30)
    goal("null_round_vs_bare_float32_matmul", per_round / bare32, "x", "<=", 1.5)
    goal("hits_identical_to_float64", diff, "differing pairs", "==", 0)
    goal("paper_scale_peak_rss", rss, "GiB", "<", 2)

    # ---- 4. the GPU
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        print("gpu_null_100_rounds skipped: no CUDA" + ("" if torch is not None else " (torch not installed)"))
        return
    name = torch.cuda.get_device_name(0)
    rg.associate(X, Y, yl, n_null=1, device="cuda", **base)  # warm-up (context, kernels)
    torch.cuda.synchronize()
    t = time.perf_counter()
    gres = rg.associate(X, Y, yl, n_null=args.null, device="cuda", **base)
    t_gpu = time.perf_counter() - t
    g = gres.parameters["timing"]
    gdiff = sum(int((gres.hits[c].to_numpy() != ref.hits[c].to_numpy()).sum()) for c in ("positive", "negative"))
    gdiff += int((gres.null_counts.to_numpy() != res.null_counts.to_numpy()).sum())
    print(f"  GPU ({name}): observed {g['observed_seconds']:.3f} s, null {g['null_seconds_per_round'] * 1e3:.1f} ms "
          f"per round, whole call with {args.null} rounds {t_gpu:.2f} s; differing from the CPU engines: {gdiff}")
    goal(f"gpu_null_{args.null}_rounds", g["null_seconds"], "s", "<", 3)
    goal("gpu_hits_identical", gdiff, "differing pairs", "==", 0)


#: The bare products' orientations: (features x genes) and (genes x features), each product a fresh
#: array, and the engine's own layout: (genes x features) by blocks of its default 4,096 genes into one
#: reused buffer per thread (the fastest on this kind of machine: the output stays in cache).
ORIENTATIONS = ("F x G", "G x F", "G x F blocks")
BLOCK_GENES = 4096


def _bare_round(zf: np.ndarray, ze: np.ndarray, orient: str, jobs: int) -> float:
    """Seconds for the 150 products of one round (2 classes x 75), BLAS single-threaded, spread
    over ``jobs`` threads (each product is dropped at once, or written into a reused buffer, as
    the engine's are)."""
    from concurrent.futures import ThreadPoolExecutor

    blocks = ([np.ascontiguousarray(ze[s:s + BLOCK_GENES]) for s in range(0, ze.shape[0], BLOCK_GENES)]
              if orient == "G x F blocks" else [])

    def block(ps: range) -> None:
        out = np.empty((BLOCK_GENES, zf.shape[2]), dtype=zf.dtype)
        for p in ps:
            if orient == "F x G":
                _ = zf[p].T @ ze
            elif orient == "G x F":
                _ = ze @ zf[p]
            else:
                for b in blocks:
                    np.matmul(b, zf[p], out=out[:b.shape[0]])

    work = [p % 75 for p in range(150)]
    with threadpool_limits(limits=1, user_api="blas"):
        block(range(1))
        t = time.perf_counter()
        if jobs == 1:
            block(work)
        else:
            with ThreadPoolExecutor(jobs) as ex:
                list(ex.map(block, [work[i::jobs] for i in range(jobs)]))
        return time.perf_counter() - t


@contextlib.contextmanager
def float64_engine():
    """rg.associate on the float64 reference engine (a decision margin wider than any threshold)."""
    import radiogenomics.association.stage as stage

    old = stage.decision_margin
    stage.decision_margin = lambda n: 1.0
    try:
        yield
    finally:
        stage.decision_margin = old


if __name__ == "__main__":
    main()
