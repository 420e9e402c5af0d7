# Seven classifiers over repeated 70/30 splits; external validation; calibration, DCA, nomogram.


def _models_inputs(wc):
    inp = {
        "features": features_file("training"),
        "labels": labels_file("training"),
        "differential": R("differential/differential.parquet"),
        "module": R("module/module.parquet"),
    }
    if has_validation():
        inp["validation_features"] = features_file("validation")
        inp["validation_labels"] = labels_file("validation")
    return inp


def _models_options(wc, input):
    opts = []
    if has_validation():
        opts += [f"--validation-features {input.validation_features}",
                 f"--validation-labels {input.validation_labels}"]
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
        figures=report(
            directory(R("models/figures")),
            patterns=["{name}.png"],
            caption="../report/models.rst",
            category="Models",
        ),
    log:
        log_path("models"),
    params:
        out=R("models"),
        splits=config.get("models", {}).get("splits", 1000),
        options=_models_options,
        seed=SEED,
    shell:
        "{RG} models --features {input.features} --labels {input.labels} {params.options} "
        "--splits {params.splits} --seed {params.seed} --out {params.out} > {log} 2>&1"
