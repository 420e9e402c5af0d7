"""Benchmark of the models stage: the paper's protocol and the nested one at the paper's size.

320 patients, 86 features (8 informative, 78 noise), the differential stage's selection and a
feature module (auxiliary features from a similarity matrix of feature families: about the
paper's 8 differential + 16 auxiliary features), the seven classifiers with their default settings, both protocols (``paper``: the
sets selected on all patients; ``nested``: the selection refitted inside every split), 10,000
stratified 70/30 splits, 2 worker processes: 280,000 fit + predict and 20,000 in-split
selections. Reference: a plain serial loop that fits every full scikit-learn pipeline on its
own (``selector -> scale -> classifier`` for the nested protocol), on a subset of the splits,
extrapolated linearly; its metrics on those splits must equal ours exactly. Then the first
splits again serially in one batch: the same numbers as the parallel run (seeded per split).

Run: ``.venv/bin/python benchmarks/bench_models.py [--splits 10000] [--jobs 2] [--plain-splits 10]``
(fewer ``--splits`` extrapolate the goal line linearly to 10,000 and say so; the workers' start-up, a fixed
cost, is timed apart and counted once).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

import numpy as np
import pandas as pd
from _goals import goal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, recall_score
from threadpoolctl import threadpool_limits

import radiogenomics as rg
from radiogenomics._logging import set_verbosity
from radiogenomics.differential import DifferentialSelector
from radiogenomics.models import auc_score, make_classifier, make_classifiers, repeated_splits
from radiogenomics.models.classifiers import set_random_state
from radiogenomics.models.splits import _splits_variant, split_seeds, stratified_split
from radiogenomics.module import ModuleSelector

METRICS = ("auc", "accuracy", "sensitivity", "specificity")


def cohort(n: int = 320, seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Synthetic cohort: 8 informative features, 78 noise (the paper's 86 ultrasound features)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.46).astype(int)
    X = rng.normal(size=(n, 86))
    X[:, :8] += 0.45 * y[:, None]
    ids = [f"P{i:03d}" for i in range(n)]
    return pd.DataFrame(X, index=ids, columns=[f"feature_{j:02d}" for j in range(86)]), pd.Series(y, index=ids, name="her2")


def enrichment(features: list[str], seed: int = 7) -> pd.DataFrame:
    """Functions shared within feature families: each informative feature with two noise features (its
    auxiliaries, as the paper's 8 differential features recruit 16), the other noise features in families
    of four of which 40% have significant terms."""
    rng = np.random.default_rng(seed)
    rows = []
    for j, f in enumerate(features):
        if j < 24:
            family = j % 8
        elif rng.random() < 0.4:
            family = 8 + (j - 24) // 4
        else:
            continue
        for t in rng.choice(4, size=3, replace=False):
            rows.append({"feature": f, "library": "GO", "term": f"family{family}_{t}", "p_value": 0.001,
                         "q_value": 0.01, "overlap": 3, "set_size": 20, "genes": "A;B;C"})
    return pd.DataFrame(rows)


def plain_loop(X: pd.DataFrame, y: pd.Series, diff, mod, n_splits: int, seed: int) -> tuple[float, pd.DataFrame]:
    """Every full pipeline fitted on its own (scikit-learn's metrics' inputs); returns seconds and metrics."""
    selectors = {"differential": DifferentialSelector(),
                 "module": ModuleSelector(mod.similarity_matrix, threshold=mod.parameters["threshold"])}
    paper = {"differential": diff.feature_set(), "module": mod.feature_set()}
    seeds = split_seeds(n_splits, seed=seed)
    yv = y.to_numpy()
    rows = []
    start = time.perf_counter()
    for i in range(n_splits):
        train, test = stratified_split(yv, test_size=0.3, seed=int(seeds[i]))
        for fs in ("differential", "module"):
            for protocol in ("paper", "nested"):
                data = X if protocol == "nested" else X[paper[fs]]
                for name, pipe in make_classifiers(random_state=seed).items():
                    est = make_classifier(name, selector=selectors[fs]) if protocol == "nested" else clone(pipe)
                    est = set_random_state(_splits_variant(est), int(seeds[i]))
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        est.fit(data.iloc[train], yv[train])
                    Xte = data.iloc[test]
                    score = est.decision_function(Xte) if name == "svm" else est.predict_proba(Xte)[:, 1]
                    pred = est.predict(Xte)
                    rows.append({"split": i, "feature_set": fs, "protocol": protocol, "classifier": name,
                                 "auc": auc_score(yv[test], score), "accuracy": accuracy_score(yv[test], pred),
                                 "sensitivity": recall_score(yv[test], pred),
                                 "specificity": recall_score(yv[test], pred, pos_label=0)})
    return time.perf_counter() - start, pd.DataFrame(rows)


def breakdown(X: pd.DataFrame, y: pd.Series, sets: dict, n_splits: int, seed: int) -> dict[str, float]:
    """CPU milliseconds per split of each part of the engine (one process, 1 BLAS thread): the in-split
    selections, the scaler, each classifier's fit + predict over the four evaluations, the metrics."""
    from sklearn.base import clone as _clone

    from radiogenomics.models import splits as sp

    fs = sp._resolve_feature_sets(X, sets)
    evaluations, _ = sp._resolve_evaluations(X, sets, fs, sp.PROTOCOLS)
    pos = {c: i for i, c in enumerate(X.columns)}
    columns = [np.array([pos[c] for c in ev.columns]) for ev in evaluations]
    rules, keys = {}, []
    for ev in evaluations:
        key, rule = sp._rule_of(ev) if ev.selector is not None else ("", None)
        if rule is not None:
            rules.setdefault(key, _clone(rule))
        keys.append(key)
    estimators = {k: sp._splits_variant(v) for k, v in make_classifiers(random_state=seed).items()}
    (steps, _, members), = sp._prefix_groups(estimators)
    Xa, ya = X.to_numpy(dtype=float), y.to_numpy(dtype=np.int8)
    cpu = {"selection": 0.0, "scaler": 0.0, **{m.name: 0.0 for m in members}, "metrics": 0.0}
    clock = time.process_time
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in split_seeds(n_splits, seed=seed):
            rs = int(s)
            train, test = sp._split(ya, 0.3, np.random.default_rng(rs))
            done: set[str] = set()
            for e, (ev, cols) in enumerate(zip(evaluations, columns)):
                Xtr, Xte = Xa[np.ix_(train, cols)], Xa[np.ix_(test, cols)]
                if ev.selector is not None:
                    t = clock()
                    support = sp._select(ev, keys[e], rules[keys[e]], Xtr, ya[train] == 1, rs, done)
                    cpu["selection"] += clock() - t
                    Xtr, Xte = Xtr[:, support], Xte[:, support]
                t = clock()
                Ztr, Zte = Xtr, Xte
                for step in steps:
                    Ztr, Zte = step(Ztr, Zte)
                cpu["scaler"] += clock() - t
                scores, preds = [], []
                for m in members:
                    t = clock()
                    try:
                        score, pred = m.fast(Ztr, ya[train], Zte, rs)
                    except (TypeError, sp._UnsupportedFitError):  # no fast path here: scikit-learn's own fit
                        m.seed(rs)
                        m.final.fit(Ztr, ya[train])
                        score = (m.final.decision_function(Zte) if m.kind == "decision"
                                 else m.final.predict_proba(Zte)[:, 1])
                        pred = m.final.predict(Zte) == 1
                    cpu[m.name] += clock() - t
                    scores.append(score)
                    preds.append(pred)
                t = clock()
                sp._metrics_many(ya[test], scores, preds)
                cpu["metrics"] += clock() - t
    out = {k: v * 1e3 / n_splits for k, v in cpu.items()}
    t = clock()
    repeated_splits(X, y, feature_sets=sets, n_splits=n_splits, seed=seed, n_jobs=1, batch_size=n_splits,
                    show_progress=False)
    out["engine, all parts"] = (clock() - t) * 1e3 / n_splits
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plain-splits", type=int, default=10)
    parser.add_argument("--check-splits", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--breakdown-splits", type=int, default=20,
                        help="splits timed part by part (where the time goes); 0 to skip")
    args = parser.parse_args()
    set_verbosity("WARNING")
    X, y = cohort()
    diff = rg.differential(X, y)
    mod = rg.module(enrichment(list(X.columns)), diff)
    sets = {"differential": diff, "module": mod}
    n_fits = args.splits * 2 * 2 * 7
    try:
        load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load average unknown"
    print(f"protocol: {len(X)} patients, {X.shape[1]} features, paper sets {len(diff.feature_set())} differential / "
          f"{len(mod.feature_set())} module, both protocols, 7 classifiers, {args.splits} splits -> {n_fits} "
          f"fit+predict and {2 * args.splits} in-split selections, n_jobs={args.jobs}, {os.cpu_count()} CPUs, {load}")

    with threadpool_limits(limits=1):
        t_plain, plain = plain_loop(X, y, diff, mod, args.plain_splits, args.seed)
    per_split = t_plain / args.plain_splits
    est_plain = per_split * args.splits
    print(f"plain serial loop (every pipeline fitted by scikit-learn, 1 BLAS thread): {t_plain:.1f} s for "
          f"{args.plain_splits} splits ({per_split * 1e3 / 28:.2f} ms per fit) -> extrapolated {est_plain:.0f} s "
          f"serial, {est_plain / args.jobs:.0f} s on {args.jobs} ideal workers")

    # The worker processes start once per run (spawn, imports, the fast paths' checks against scikit-learn):
    # a fixed cost, timed on its own so that the extrapolation to 10,000 splits counts it once, not per split.
    start = time.perf_counter()
    repeated_splits(X, y, feature_sets=sets, n_splits=2 * args.jobs, seed=args.seed, n_jobs=args.jobs, batch_size=1,
                    show_progress=False)
    startup = time.perf_counter() - start
    print(f"worker start-up (spawn, imports, fast-path checks; once per run, timed with {2 * args.jobs} splits): "
          f"{startup:.1f} s")
    start = time.perf_counter()
    res = repeated_splits(X, y, feature_sets=sets, n_splits=args.splits, seed=args.seed, n_jobs=args.jobs,
                          show_progress=False)
    wall = time.perf_counter() - start
    print(f"radiogenomics.models.repeated_splits, both protocols (started workers): {wall:.1f} s "
          f"({wall / n_fits * 1e3 * args.jobs:.2f} ms per fit per worker, selections included)")

    key = ["split", "feature_set", "protocol", "classifier"]
    ours = res.splits[res.splits["split"] < args.plain_splits]
    merged = ours.merge(plain, on=key, suffixes=("", "_plain"))
    diffs = {m: float(np.max(np.abs(merged[m] - merged[f"{m}_plain"]))) for m in METRICS}
    print(f"same computation: max |ours - plain| over {len(merged)} fits: {diffs}")

    n_check = min(args.check_splits, args.splits)
    again = repeated_splits(X, y, feature_sets=sets, n_splits=n_check, seed=args.seed, n_jobs=1, batch_size=n_check,
                            show_progress=False)
    first = res.splits[res.splits["split"] < n_check].sort_values(key).reset_index(drop=True)
    same_jobs = first.equals(again.splits.sort_values(key).reset_index(drop=True))
    print(f"first {n_check} splits, 1 worker in one batch vs {args.jobs} workers: "
          f"{'bit-identical' if same_jobs else 'DIFFERENT'}")

    cols = ["feature_set", "protocol", "classifier", "n_features", "n_empty_selections", "auc_mean", "auc_low",
            "auc_high", "auc_best_split_optimistic", "n_convergence_warnings"]
    print(res.summary[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    c = res.comparison
    infl = c[(c["protocol_a"] == "paper") & (c["protocol_b"] == "nested")]
    print("paper protocol's inflation (paper - nested mean split AUC):",
          infl.groupby("feature_set_a")["difference_mean"].mean().round(4).to_dict())
    print(f"ratio plain (serial, extrapolated) / ours: {est_plain / wall:.2f}x")
    if args.breakdown_splits:
        parts = breakdown(X, y, sets, args.breakdown_splits, args.seed)
        engine = parts.pop("engine, all parts")
        print(f"where the time goes (CPU ms per split, one process, {args.breakdown_splits} splits; x {10_000 / args.jobs:.0f} "
              f"= seconds of the 10,000-split run on {args.jobs} ideal workers): "
              + ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
              + f"; sum {sum(parts.values()):.1f} ms; the engine itself (repeated_splits, 1 worker, the same splits): "
              f"{engine:.1f} ms -> {engine * 10_000 / args.jobs / 1e3:.0f} s on {args.jobs} ideal workers "
              "(CPU time: about what a quiet machine's wall clock gives)")
    full = startup + wall * 10_000 / args.splits  # the goal is the paper's 10,000 splits, start-up included once
    if args.splits != 10_000:
        print(f"note: ran {args.splits} splits; the goal line is the start-up plus the run extrapolated linearly to "
              f"10,000 splits ({startup:.1f} + {wall * 10_000 / args.splits:.0f} = {full:.0f} s)")
    else:
        print(f"10,000 splits: start-up {startup:.1f} s + run {wall:.0f} s = {full:.0f} s")
    goal("models_both_protocols_wall", full, "s", "<", 600)
    goal("models_speedup_vs_plain_loop", est_plain / wall, "x", ">", 1)
    goal("models_same_as_plain_pipelines", max(diffs.values()), "max abs diff", "==", 0)
    goal("models_identical_any_n_jobs", 0.0 if same_jobs else 1.0, "differing tables", "==", 0)


if __name__ == "__main__":
    logging.captureWarnings(False)
    main()
