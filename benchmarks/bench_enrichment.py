"""Benchmark: ORA of 86 feature gene sets against GO BP 2021 (~6,000 terms).

Reference: a loop of ``gseapy.enrich`` calls (one per feature) in the same process, given the same
universe (measured ∩ annotated genes) as a list, so that p-values must agree. Ours: one call of
``radiogenomics.enrichment.enrich`` (sparse incidence, one product, vectorised hypergeometric).
If the gseapy loop is slow, it is timed on a subset of features and extrapolated (printed).

Run: ``.venv/bin/python benchmarks/bench_enrichment.py`` (needs ../shared/data/genesets).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
from _goals import goal

from radiogenomics.enrichment import enrich, read_gmt

N_FEATURES = 86
GENES_PER_SET = 200
N_REFERENCE = 20  # gseapy calls timed, then extrapolated to N_FEATURES

GMT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "genesets" / "GO_Biological_Process_2021.gmt"


def main() -> int:
    if not GMT.exists():
        print(f"skipped: {GMT} is absent")
        return 0
    import gseapy

    logging.getLogger("gseapy").setLevel(logging.WARNING)
    lib = read_gmt(GMT)
    rng = np.random.default_rng(0)
    annotated = np.array(sorted(lib.genes))
    measured = list(rng.choice(annotated, 12000, replace=False)) + [f"UNANNOTATED{i}" for i in range(3000)]
    universe = sorted(set(measured) & set(annotated))
    sets = {f"feature_{i:02d}": list(rng.choice(universe, GENES_PER_SET, replace=False)) for i in range(N_FEATURES)}
    print(f"{N_FEATURES} gene sets x {GENES_PER_SET} genes vs {lib.name} ({lib.n_terms} terms); "
          f"universe {len(universe)} genes (measured ∩ annotated)")

    # ours (sizes unfiltered to test exactly what gseapy tests)
    enrich(dict(list(sets.items())[:2]), lib, background=measured, min_size=1, max_size=10**6)  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = enrich(sets, lib, background=measured, min_size=1, max_size=10**6)
        times.append(time.perf_counter() - t0)
    ours = min(times)
    print(f"ours: {ours:.3f} s for {N_FEATURES} features (best of 3; runs {', '.join(f'{t:.3f}' for t in times)}); "
          f"{len(res.table)} feature-term rows")

    # reference: gseapy.enrich loop on a subset
    gmt_dict = {k: list(v) for k, v in lib.sets.items()}
    subset = list(sets)[:N_REFERENCE]
    t0 = time.perf_counter()
    refs = {}
    for f in subset:
        refs[f] = gseapy.enrich(gene_list=sets[f], gene_sets=gmt_dict, background=universe, outdir=None,
                                cutoff=1, no_plot=True).res2d
    ref_sub = time.perf_counter() - t0
    ref = ref_sub / len(subset) * N_FEATURES
    print(f"gseapy.enrich loop: {ref_sub:.2f} s for {len(subset)} features -> extrapolated {ref:.1f} s for {N_FEATURES}")

    # same p-values
    worst = 0.0
    n = 0
    for f in subset:
        o = res.table[res.table["feature"] == f].set_index("term")
        r = refs[f].set_index("Term")
        if set(o.index) != set(r.index):
            print(f"term sets differ for {f}")
            worst = np.inf
            continue
        rel = np.abs(o["p_value"].to_numpy() / r.loc[o.index, "P-value"].to_numpy() - 1)
        worst = max(worst, float(rel.max()))
        n += len(o)
    print(f"p-values compared: {n}; max relative difference {worst:.2e}")

    speedup = ref / ours
    same = worst <= 1e-9
    print("note: 2 shared cores, other jobs running; timings are noisy")
    goal("enrichment_speedup_vs_gseapy", speedup, "x", ">=", 50, ok=speedup >= 50 and same)
    goal("enrichment_pvalue_parity", worst, "relative", "<=", 1e-9, ok=same)
    goal("enrichment_time_86_features_go_bp", ours, "s", "<", 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
