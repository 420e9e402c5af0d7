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
        "{RG} geo fetch {params.fetch} --out {output:q} > {log:q} 2>&1"


rule import_series:
    input:
        expression=lambda wc: SERIES[wc.series]["expression"],
        labels=lambda wc: SERIES[wc.series]["labels"],
    output:
        directory(folder("series", series="{series}")),
    log:
        log_path("expression_import_{series}"),
    params:
        series=lambda wc: args("--name", wc.series, "--scale", SERIES[wc.series]["scale"],
                               "--log-offset", SERIES[wc.series]["log_offset"]),
    wildcard_constraints:
        series=_alt(LOCAL_SERIES),
    shell:
        "{RG} geo import --expression {input.expression:q} --labels {input.labels:q} {params.series} "
        "--out {output:q} > {log:q} 2>&1"


rule merge_series:
    input:
        [folder("series", series=s) for s in SERIES],
    output:
        directory(folder("expression")),
    log:
        log_path("expression_merge"),
    params:
        combat="--combat" if config["expression"]["combat"] else "",
    shell:
        "{RG} geo merge {input:q} {params.combat} --out {output:q} > {log:q} 2>&1"
