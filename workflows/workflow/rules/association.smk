# Perturbation association of features with genes, per HER2 class, with the null model.


rule association:
    input:
        features=folder("extraction", cohort="training"),
        expression=folder("expression"),
    output:
        directory(folder("association")),
    log:
        log_path("association"),
    params:
        config=CONFIG,
        scheduler=lambda wc: scheduler_args(),
    threads: threads_of("association")
    shell:
        "{RG} associate --features {input.features:q} --expression {input.expression:q} --config {params.config:q} "
        "{params.scheduler:q} --n-jobs {threads} --out {output:q} > {log:q} 2>&1"
