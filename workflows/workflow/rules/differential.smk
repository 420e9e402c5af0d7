# Differential radiomic features, HER2+ vs HER2- (Wilcoxon rank-sum, fold change, BH q).


rule differential:
    input:
        features=folder("extraction", cohort="training"),
    output:
        directory(folder("differential")),
    log:
        log_path("differential"),
    params:
        config=CONFIG,
    shell:
        "{RG} differential --features {input.features:q} --config {params.config:q} --out {output:q} > {log:q} 2>&1"
