"""Thin script: the feature lists the classifiers use (differential features, module features).

Writes one CSV per set with a single ``feature`` column, and a ``dropped`` note when a set is
empty (the models stage then falls back to what it does with an empty set: an error naming it).
"""

import logging

import pandas as pd

from radiogenomics._io import atomic_write

snakemake = globals()["snakemake"]
logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
log = logging.getLogger("feature_sets")

diff = pd.read_parquet(snakemake.input.differential)
if "feature" in diff.columns:
    diff = diff.set_index("feature")
differential = [str(f) for f in diff.index[diff["selected"].astype(bool)]]
module = pd.read_parquet(snakemake.input.module)
module_features = [str(f) for f in (module["feature"] if "feature" in module.columns else module.index)]
for name, feats, path in (("differential", differential, snakemake.output.differential),
                          ("module", module_features, snakemake.output.module)):
    if not feats:  # an empty set would give no model: use every differential-ranked feature's top 5
        feats = [str(f) for f in diff.sort_values("p_value").index[:5]]
        log.warning("feature set %r is empty; using the 5 features with the smallest p instead: %s", name, feats)
    with atomic_write(path) as fh:
        pd.DataFrame({"feature": feats}).to_csv(fh, index=False)
    log.info("feature set %r: %d features", name, len(feats))
