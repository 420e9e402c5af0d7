# One self-contained HTML report of every stage that ran (figures embedded).


def _report_inputs(wc):
    inp = [folder(s) for s in ("differential", "association", "module", "models")]
    if not supplied_enrichment():
        inp.append(folder("enrichment"))
    return inp + deep_outputs()  # rules/deep.smk


rule report:
    input:
        _report_inputs,
    output:
        html=REPORT_HTML,
        figures=report(
            directory(REPORT_FIGURES),
            patterns=["{name}.png"],
            caption="../report/report.rst",
            category="Report figures",
        ),
    log:
        log_path("report"),
    params:
        results=RESULTS,
        synthetic=["--synthetic"] if SYNTHETIC else [],
        config=CONFIG,
    shell:
        "{RG} report --results {params.results:q} --out {output.html:q} --figures {output.figures:q} "
        "{params.synthetic:q} --config {params.config:q} > {log:q} 2>&1"
