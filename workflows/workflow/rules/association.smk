# Perturbation association of features with genes, per HER2 class, with the null model.


rule association:
    input:
        features=features_file("training"),
        labels=labels_file("training"),
        expression=expression_dir() + "/expression.parquet",
        expression_labels=expression_dir() + "/labels.parquet",
    output:
        specific=R("association/positive_specific.parquet"),
        top=R("association/top_genes.parquet"),
        null=R("association/null_summary.parquet"),
    log:
        log_path("association"),
    params:
        out=R("association"),
        mode=config.get("association", {}).get("mode", "unpaired"),
        n_perturbations=config.get("association", {}).get("n_perturbations", 75),
        sample_size=(
            f"--sample-size {config['association']['sample_size']}"
            if config.get("association", {}).get("sample_size") else ""
        ),
        min_hits=config.get("association", {}).get("min_hits", 6),
        n_null=config.get("association", {}).get("n_null", 100),
        seed=SEED,
        normalize=(
            "--max-normalize" if config.get("association", {}).get("max_normalize", False) else "--no-max-normalize"
        ),
    threads: config.get("association", {}).get("jobs", 1)
    shell:
        "{RG} associate --features {input.features} --labels {input.labels} "
        "--expression {input.expression} --expression-labels {input.expression_labels} "
        "--mode {params.mode} --perturbations {params.n_perturbations} {params.sample_size} "
        "--min-hits {params.min_hits} --null {params.n_null} --seed {params.seed} --jobs {threads} {params.normalize} "
        "--out {params.out} > {log} 2>&1"
