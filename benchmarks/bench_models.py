"""Benchmark of the models stage: the paper's protocol at its size.

320 patients, two feature sets (8 "differential" and 24 "module" features), the seven
classifiers with their default settings, 10,000 stratified 70/30 splits, 2 worker processes:
140,000 fit + predict. Reference: a plain serial loop of the same fits (same splits, same seeds,
same estimators, scikit-learn metrics), timed on a subset of the splits and extrapolated
linearly, once with the default BLAS threads (what a plain script gets) and once with one BLAS
thread. The first splits' AUCs of both are compared to show they are the same computation.

Run: ``.venv/bin/python benchmarks/bench_models.py [--splits 10000] [--jobs 2] [--plain-splits 40]``
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import numpy as np
import pandas as pd
from _goals import goal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, recall_score, roc_auc_score
from threadpoolctl import threadpool_limits

from radiogenomics._logging import set_verbosity
from radiogenomics.models import make_classifiers, repeated_splits
from radiogenomics.models.classifiers import set_random_state
from radiogenomics.models.splits import _splits_variant, split_seeds, stratified_split


def cohort(n: int = 320, seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Synthetic cohort: 8 informative features, 16 correlated or noise features."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    X = rng.normal(size=(n, 24))
    X[:, :8] += 0.45 * y[:, None]
    X[:, 8:16] += 0.5 * X[:, :8] + 0.1 * y[:, None]
    ids = [f"P{i:03d}" for i in range(n)]
    cols = [f"feature_{j:02d}" for j in range(24)]
    return pd.DataFrame(X, index=ids, columns=cols), pd.Series(y, index=ids, name="her2")


def plain_loop(X: pd.DataFrame, y: pd.Series, sets: dict, n_splits: int, seed: int) -> tuple[float, pd.DataFrame]:
    """A plain serial loop over the same splits, estimators and seeds; returns seconds and AUCs."""
    models = {k: _splits_variant(v) for k, v in make_classifiers(random_state=seed).items()}
    seeds = split_seeds(n_splits, seed=seed)
    yv = y.to_numpy()
    rows = []
    start = time.perf_counter()
    for i in range(n_splits):
        train, test = stratified_split(yv, test_size=0.3, seed=int(seeds[i]))
        for fs, cols in sets.items():
            Xtr, Xte = X.iloc[train][cols].to_numpy(), X.iloc[test][cols].to_numpy()
            for name, model in models.items():
                est = set_random_state(clone(model), int(seeds[i]))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    est.fit(Xtr, yv[train])
                score = est.decision_function(Xte) if name == "svm" else est.predict_proba(Xte)[:, 1]
                pred = est.predict(Xte)
                rows.append({"split": i, "feature_set": fs, "classifier": name,
                             "auc": roc_auc_score(yv[test], score), "accuracy": accuracy_score(yv[test], pred),
                             "sensitivity": recall_score(yv[test], pred),
                             "specificity": recall_score(yv[test], pred, pos_label=0)})
    return time.perf_counter() - start, pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plain-splits", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_verbosity("WARNING")
    X, y = cohort()
    sets = {"differential": list(X.columns[:8]), "module": list(X.columns)}
    n_fits = args.splits * len(sets) * 7
    print(f"protocol: {len(X)} patients, feature sets {[len(v) for v in sets.values()]}, 7 classifiers, "
          f"{args.splits} splits -> {n_fits} fit+predict, n_jobs={args.jobs}")

    t_plain, plain = plain_loop(X, y, sets, args.plain_splits, args.seed)
    with threadpool_limits(limits=1):
        t_plain1, _ = plain_loop(X, y, sets, args.plain_splits, args.seed)
    per_fit, per_fit1 = t_plain / (args.plain_splits * 14), t_plain1 / (args.plain_splits * 14)
    est_plain, est_plain1 = per_fit * n_fits, per_fit1 * n_fits
    print(f"plain serial loop, default BLAS threads: {t_plain:.1f} s for {args.plain_splits} splits "
          f"({per_fit * 1e3:.2f} ms per fit) -> extrapolated {est_plain:.0f} s for {args.splits} splits")
    print(f"plain serial loop, 1 BLAS thread:        {t_plain1:.1f} s for {args.plain_splits} splits "
          f"({per_fit1 * 1e3:.2f} ms per fit) -> extrapolated {est_plain1:.0f} s for {args.splits} splits")

    start = time.perf_counter()
    res = repeated_splits(X, y, feature_sets=sets, n_splits=args.splits, seed=args.seed, n_jobs=args.jobs,
                          show_progress=False)
    wall = time.perf_counter() - start
    print(f"radiogenomics.models.repeated_splits: {wall:.1f} s ({wall / n_fits * 1e3 * args.jobs:.2f} ms per fit "
          f"per worker)")
    ours = res.splits[res.splits["split"] < args.plain_splits].reset_index(drop=True)
    merged = ours.merge(plain, on=["split", "feature_set", "classifier"], suffixes=("", "_plain"))
    diffs = {m: float(np.max(np.abs(merged[m] - merged[f"{m}_plain"]))) for m in ("auc", "accuracy", "sensitivity", "specificity")}
    print(f"same computation: max |ours - plain| over {len(merged)} fits: {diffs}")
    print(res.summary[["feature_set", "classifier", "auc_mean", "auc_low", "auc_high",
                       "n_convergence_warnings"]].to_string(index=False))
    print(f"ratio plain (default threads, extrapolated) / ours: {est_plain / wall:.2f}x; "
          f"plain (1 BLAS thread) / ours: {est_plain1 / wall:.2f}x")
    full = wall * 10_000 / args.splits  # the goal is the paper's 10,000 splits
    if args.splits != 10_000:
        print(f"note: ran {args.splits} splits; the goal line extrapolates linearly to 10,000 ({full:.0f} s)")
    goal("models_paper_protocol_wall", full, "s", "<", 600)
    goal("models_speedup_vs_plain_loop", est_plain / wall, "x", ">", 1)


if __name__ == "__main__":
    logging.captureWarnings(False)
    main()
