"""Benchmark of the expression path (run in one process: `python benchmarks/bench_expression.py`).

1. GPL570 probe -> gene mapping (54,675 probes x 200 samples, highest-mean collapse) against a
   plain pandas reference (groupby + idxmax of probe means): same matrix, timings of both.
2. SCAN-B (GSE96058 subset) read + labelled through its manifest: counts 42 / 343 / 15.
3. SCAN-B split in two pseudo-series with a planted per-gene series shift (one on a linear
   scale): series separation before and after ComBat.
Needs ../shared/data (skips the parts that need it when absent).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from _goals import goal as _goal

from radiogenomics import expression as ex

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
goals: list[str] = []


def goal(name: str, measured: float, unit: str, op: str, target: float) -> None:
    """Collect a goal line (printed together at the end) in the shared format."""
    goals.append(_goal(name, measured, unit, op, target, echo=False))


def bench_mapping() -> None:
    table = ex.read_platform_table(SHARED / "gpl570" / "GPL570_probe_to_symbol.csv.gz")
    rng = np.random.default_rng(0)
    values = pd.DataFrame(rng.normal(7, 2, (200, len(table))).astype(float),
                          index=[f"S{i}" for i in range(200)], columns=table["ID"])
    t = time.perf_counter()
    ours = ex.map_probes(values, table, series="bench")
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    sym = table.set_index("ID")["symbol"]
    ok = sym.notna() & ~sym.str.lower().isin(ex.platforms.UNMAPPED_SYMBOLS) & ~sym.str.contains("///")
    means = values.mean()[ok[ok].index]
    frame = pd.DataFrame({"gene": sym[means.index], "mean": means})
    best = frame.sort_values(["gene", "mean"], ascending=[True, False]).groupby("gene").head(1)
    ref = values[best.index]
    ref.columns = best["gene"].to_numpy()
    ref = ref[sorted(ref.columns)]
    t_ref = time.perf_counter() - t
    diff = float(np.abs(ours.expression.to_numpy() - ref.to_numpy()).max()) if ours.expression.shape == ref.shape \
        else float("inf")
    print(f"mapping: ours {t_ours:.2f} s, pandas reference {t_ref:.2f} s, ratio {t_ours / t_ref:.1f}x; "
          f"{ours.expression.shape[1]} genes (reference {ref.shape[1]}), max |diff| {diff}")
    print(f"  decisions: {ours.counts}")
    goal("mapping_matches_reference", diff, "max_abs_diff", "==", 0.0)
    goal("mapping_time_gpl570_200_samples", t_ours, "s", "<", 10.0)


def bench_scanb() -> ex.SeriesResult:
    folder = SHARED / "scanb_gse96058"
    man = ex.load_manifest("GSE96058")
    t = time.perf_counter()
    series = ex.read_series("GSE96058", man, samples=folder / "samples.csv",
                            expression=folder / "expression_log2fpkm.csv.gz")
    prep = ex.prepare_series(series, man)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    plain = pd.read_csv(folder / "expression_log2fpkm.csv.gz", index_col=0)
    t_ref = time.perf_counter() - t
    c = prep.decisions["status"].value_counts()
    print(f"SCAN-B: read + label {t_ours:.2f} s (plain pandas read_csv {t_ref:.2f} s); "
          f"{c.get('positive', 0)} positive / {c.get('negative', 0)} negative / {c.get('excluded', 0)} excluded")
    erbb2 = prep.expression["ERBB2"]
    print(f"  ERBB2 mean {erbb2[prep.labels == 1].mean():.2f} (HER2+) vs {erbb2[prep.labels == 0].mean():.2f} (HER2-)")
    goal("scanb_label_mismatches", float(abs(c.get("positive", 0) - 42) + abs(c.get("negative", 0) - 343)
                                         + abs(c.get("excluded", 0) - 15)), "samples", "==", 0.0)
    goal("scanb_read_label_time", t_ours, "s", "<", 15.0)
    del plain
    return prep


def bench_combat(prep: ex.SeriesResult) -> None:
    rng = np.random.default_rng(1)
    expr = prep.expression
    expr = expr.loc[:, (expr.std() > 0.5) & (expr.mean() > 2)].iloc[:, :2000]
    idx = rng.permutation(expr.index)
    a, b = idx[: len(idx) // 2], idx[len(idx) // 2:]
    shift = rng.normal(0, 1.0, expr.shape[1])
    series = [ex.import_series(expr.loc[a], prep.labels.loc[a], name="A", scale="log2", log_offset=0.1),
              ex.import_series(np.power(2.0, expr.loc[b] + shift), prep.labels.loc[b], name="B")]  # B: linear + gene shifts
    t = time.perf_counter()
    res = ex.merge_series(series, combat=True)
    print(f"merge + ComBat of {expr.shape[1]} genes x {len(idx)} samples: {time.perf_counter() - t:.2f} s")
    print(res.batch_check.to_string(index=False))
    check = res.batch_check.set_index("stage")
    goal("combat_silhouette_after", float(check.at["combat", "silhouette"]), "silhouette", "<",
         float(check.at["max_normalized", "silhouette"]))
    goal("combat_series_variance_after", float(check.at["combat", "variance_fraction"]), "fraction", "<",
         float(check.at["max_normalized", "variance_fraction"]))


def main() -> None:
    if not SHARED.exists():
        print("../shared/data is absent; nothing to benchmark")
        return
    print("note: timings on a shared machine are noisy")
    bench_mapping()
    prep = bench_scanb()
    bench_combat(prep)
    for line in goals:
        print(line)


if __name__ == "__main__":
    main()
