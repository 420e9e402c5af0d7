"""Thin script: copy a local expression table + labels into the workflow's series folder.

Checks orientation (rows = samples) against the labels, and writes Parquet + CSV and
provenance.json through the package's I/O helpers.
"""

import logging

from radiogenomics._io import orient_samples, read_labels, read_table, write_json, write_table
from radiogenomics._provenance import build_provenance, write_provenance
from radiogenomics._validation import align_samples

snakemake = globals()["snakemake"]
logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)

labels = read_labels(snakemake.input.labels)
expression = orient_samples(read_table(snakemake.input.expression), labels.index, name=snakemake.input.expression)
expression, labels = align_samples(expression, labels, data_name=snakemake.input.expression, labels_name=snakemake.input.labels)
out = snakemake.params.out
write_table(expression, out, "expression")
write_table(labels.rename("her2").to_frame(), out, "labels")
# the folder layout `radiogenomics geo fetch` writes, so that `geo merge` reads it
write_json({"accession": snakemake.wildcards.series, "scale": snakemake.params.scale,
            "log_offset": float(snakemake.params.log_offset), "platform": None,
            "manifest_platform": None, "manifest": None}, f"{out}/series.json")
write_provenance(out, build_provenance(
    "expression_import",
    parameters={"series": snakemake.wildcards.series, "scale": snakemake.params.scale,
                "log_offset": float(snakemake.params.log_offset)},
    inputs={"expression": snakemake.input.expression, "labels": snakemake.input.labels},
    synthetic=bool(snakemake.params.synthetic),
))
