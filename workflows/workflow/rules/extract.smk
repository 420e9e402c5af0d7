# Imaging features per patient: extracted from images + masks (pyradiomics), or a table given as it is.


def _extract_inputs(wc):
    c = _cohort(wc.cohort)
    if imaging_source(wc.cohort) == "cases":
        # the sheet first (the shell line's input[0]), then its images and masks: a replaced image re-runs
        return [c["cases"]] + case_files(c["cases"])
    return [c["features"]] + ([c["labels"]] if c.get("labels") else [])


def _extract_args(wc, input):
    c = _cohort(wc.cohort)
    if imaging_source(wc.cohort) == "cases":
        return args("--cases", input[0], "--config", CONFIG, "--cache", R("cache/features"), scheduler_args())
    labels = ["--labels", input[1]] if c.get("labels") else []
    inside = ["--label-column", c["label_column"]] if c.get("label_column") else []
    return args("--features", input[0], labels, inside)


rule extract:
    input:
        _extract_inputs,
    output:
        directory(folder("extraction", cohort="{cohort}")),
    log:
        log_path("extract_{cohort}"),
    params:
        source=_extract_args,
    threads: threads_of("imaging")
    wildcard_constraints:
        cohort="training|validation",
    shell:
        "{RG} extract {params.source:q} --n-jobs {threads} --out {output:q} > {log:q} 2>&1"
