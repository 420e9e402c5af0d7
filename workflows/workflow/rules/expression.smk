# Expression series: GEO (SOFT / series matrix) or local tables; merged on shared genes.


rule fetch_series:
    output:
        expression=R("expression/series/{series}/expression.parquet"),
        labels=R("expression/series/{series}/labels.parquet"),
    log:
        log_path("expression_fetch_{series}"),
    params:
        out=lambda wc: R(f"expression/series/{wc.series}"),
        accession=lambda wc: SERIES[wc.series].get("geo") or wc.series,
        local=lambda wc: (
            f"--soft {SERIES[wc.series]['soft']}" if SERIES[wc.series].get("soft")
            else f"--series-matrix {SERIES[wc.series]['series_matrix']}" if SERIES[wc.series].get("series_matrix")
            else ""
        ),
    wildcard_constraints:
        series=_alt(GEO_SERIES),
    shell:
        "{RG} geo fetch {params.accession} {params.local} --out {params.out} > {log} 2>&1"


rule import_series:
    input:
        expression=lambda wc: SERIES[wc.series]["expression"],
        labels=lambda wc: SERIES[wc.series]["labels"],
    output:
        expression=R("expression/series/{series}/expression.parquet"),
        labels=R("expression/series/{series}/labels.parquet"),
    log:
        log_path("expression_import_{series}"),
    params:
        out=lambda wc: R(f"expression/series/{wc.series}"),
        scale=lambda wc: SERIES[wc.series].get("scale", "linear"),
        log_offset=lambda wc: SERIES[wc.series].get("log_offset", 0.0),
        synthetic=SYNTHETIC,
    wildcard_constraints:
        series=_alt(LOCAL_SERIES),
    script:
        "../scripts/import_series.py"


rule merge_series:
    input:
        expand(R("expression/series/{series}/expression.parquet"), series=list(SERIES)),
    output:
        expression=R("expression/merged/expression.parquet"),
        labels=R("expression/merged/labels.parquet"),
    log:
        log_path("expression_merge"),
    params:
        dirs=[R(f"expression/series/{s}") for s in SERIES],
        out=R("expression/merged"),
        combat="--combat" if config["expression"].get("combat") else "",
    shell:
        "{RG} geo merge {params.dirs} {params.combat} --out {params.out} > {log} 2>&1"
