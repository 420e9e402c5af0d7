# One self-contained HTML report of every stage that ran (figures embedded).


def _report_inputs(wc):
    inp = [
        R("differential/differential.parquet"),
        R("association/positive_specific.parquet"),
        R("enrichment/enrichment.parquet"),
        R("module/module.parquet"),
        R("models/summary.parquet"),
    ]
    if deep_enabled():
        inp += [R("deep/predictions.parquet"), R("deep/gradcam")]
    return inp


rule report:
    input:
        _report_inputs,
    output:
        html=R("report/report.html"),
        figures=report(
            directory(R("report/figures")),
            patterns=["{name}.png"],
            caption="../report/report.rst",
            category="Report figures",
        ),
    log:
        log_path("report"),
    params:
        results=RESULTS,
        synthetic="--synthetic" if SYNTHETIC else "--not-synthetic",
        title=config.get("report", {}).get("title", "HER2 radiogenomics report"),
        config_file=lambda wc: workflow.configfiles[-1] if workflow.configfiles else "",
    shell:
        "{RG} report --results {params.results} --out {output.html} --figures {output.figures} "
        "{params.synthetic} --title '{params.title}' > {log} 2>&1"
