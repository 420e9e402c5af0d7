# Differential radiomic features, HER2+ vs HER2- (Wilcoxon rank-sum, fold change, BH q).


rule differential:
    input:
        features=features_file("training"),
        labels=labels_file("training"),
    output:
        table=R("differential/differential.parquet"),
    log:
        log_path("differential"),
    params:
        out=R("differential"),
        select_by=config.get("differential", {}).get("select_by", "p"),
        threshold=config.get("differential", {}).get("threshold", 0.05),
    shell:
        "{RG} differential --features {input.features} --labels {input.labels} "
        "--select-by {params.select_by} --threshold {params.threshold} --out {params.out} > {log} 2>&1"
