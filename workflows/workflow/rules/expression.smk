# Expression series: GEO (SOFT / series matrix) or local tables; merged on shared genes.


def _fetch_args(wc):
    s = SERIES[wc.series]
    local = ["--soft", s["soft"]] if s.get("soft") else ["--series-matrix", s["series_matrix"]] if s.get("series_matrix") else []
    return args(s.get("geo") or wc.series, local)


rule fetch_series:
    output:
        directory(folder("series", series="{series}")),
    log:
        log_path("expression_fetch_{series}"),
    params:
        fetch=_fetch_args,
    wildcard_constraints:
        series=_alt(GEO_SERIES),
    shell:
        "{RG} geo fetch {params.fetch:q} --out {output:q} > {log:q} 2>&1"


def _import_inputs(wc):
    s = SERIES[wc.series]
    return {"expression": s["expression"], **({"labels": s["labels"]} if s.get("labels") else {})}


def _import_args(wc, input):
    s = SERIES[wc.series]
    labels = ["--labels", input.labels] if s.get("labels") else []
    inside = ["--label-column", s["label_column"]] if s.get("label_column") else []
    return args("--name", wc.series, "--scale", s["scale"], "--log-offset", s["log_offset"], labels, inside)


rule import_series:
    input:
        unpack(_import_inputs),
    output:
        directory(folder("series", series="{series}")),
    log:
        log_path("expression_import_{series}"),
    params:
        series=_import_args,
    wildcard_constraints:
        series=_alt(LOCAL_SERIES),
    shell:
        "{RG} geo import --expression {input.expression:q} {params.series:q} --out {output:q} > {log:q} 2>&1"


rule merge_series:
    input:
        [folder("series", series=s) for s in SERIES],
    output:
        directory(folder("expression")),
    log:
        log_path("expression_merge"),
    params:
        combat=["--combat"] if config["expression"]["combat"] else [],
    shell:
        "{RG} geo merge {input:q} {params.combat:q} --out {output:q} > {log:q} 2>&1"
