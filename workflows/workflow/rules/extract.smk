# Imaging features per patient: extracted from images + masks (pyradiomics), or a table given as it is.


rule extract:
    input:
        lambda wc: _cohort(wc.cohort)["cases"] if imaging_source(wc.cohort) == "cases"
        else [_cohort(wc.cohort)["features"], _cohort(wc.cohort)["labels"]],
    output:
        directory(folder("extraction", cohort="{cohort}")),
    log:
        log_path("extract_{cohort}"),
    params:
        source=lambda wc, input: (
            args("--cases", input[0], "--config", CONFIG, "--cache", R("cache/features"))
            if imaging_source(wc.cohort) == "cases"
            else args("--features", input[0], "--labels", input[1])
        ),
    threads: threads_of("imaging")
    wildcard_constraints:
        cohort="training|validation",
    shell:
        "{RG} extract {params.source} --n-jobs {threads} --out {output:q} > {log:q} 2>&1"
