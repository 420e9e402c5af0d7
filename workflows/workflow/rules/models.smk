# Seven classifiers over repeated 70/30 splits; external validation; calibration, DCA, nomogram.


rule feature_sets:
    input:
        differential=R("differential/differential.parquet"),
        module=R("module/module.parquet"),
    output:
        differential=R("models/feature_sets/differential.csv"),
        module=R("models/feature_sets/module.csv"),
    log:
        log_path("feature_sets"),
    script:
        "../scripts/feature_sets.py"


def _models_inputs(wc):
    inp = {
        "features": features_file("training"),
        "labels": labels_file("training"),
        "differential": R("models/feature_sets/differential.csv"),
        "module": R("models/feature_sets/module.csv"),
    }
    if config.get("models", {}).get("clinical"):
        inp["clinical"] = config["models"]["clinical"]
    if has_validation():
        inp["validation_features"] = features_file("validation")
        inp["validation_labels"] = labels_file("validation")
    return inp


def _models_options(wc, input):
    opts = []
    if has_validation():
        opts += [f"--validation-features {input.validation_features}",
                 f"--validation-labels {input.validation_labels}"]
    if config.get("models", {}).get("clinical"):
        opts.append(f"--clinical {input.clinical}")
    for name in config.get("models", {}).get("feature_sets", ["differential", "module"]):
        if name == "differential":
            opts.append(f"--feature-set differential={input.differential}")
        elif name == "module":
            opts.append(f"--feature-set module={input.module}")
    return " ".join(opts)


rule models:
    input:
        unpack(_models_inputs),
    output:
        summary=R("models/summary.parquet"),
        splits=R("models/splits.parquet"),
    log:
        log_path("models"),
    params:
        out=R("models"),
        splits=config.get("models", {}).get("splits", 1000),
        options=_models_options,
        seed=SEED,
        bootstrap=config.get("models", {}).get("bootstrap", 2000),
    threads: config.get("models", {}).get("jobs", 1)
    shell:
        "{RG} models --features {input.features} --labels {input.labels} {params.options} "
        "--splits {params.splits} --bootstrap {params.bootstrap} --jobs {threads} --seed {params.seed} --out {params.out} > {log} 2>&1"
