# Radiomic features from images + masks (pyradiomics), aggregated per patient.


rule extract:
    input:
        cases=lambda wc: _cohort(wc.cohort)["cases"],
    output:
        features=R("imaging/{cohort}/features_patient.parquet"),
        labels=R("imaging/{cohort}/labels.parquet"),
    log:
        log_path("extract_{cohort}"),
    params:
        out=lambda wc: R(f"imaging/{wc.cohort}"),
        preset=config["imaging"].get("preset", "ultrasound2d"),
        aggregate=config["imaging"].get("aggregate", "mean"),
    threads: config["imaging"].get("jobs", 1)
    wildcard_constraints:
        cohort="training|validation",
    shell:
        "{RG} extract --cases {input.cases} --preset {params.preset} --aggregate {params.aggregate} "
        "--jobs {threads} --out {params.out} > {log} 2>&1"
