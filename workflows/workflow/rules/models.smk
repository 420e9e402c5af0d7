# Seven classifiers over repeated 70/30 splits; external validation; calibration, DCA, nomogram.

FEATURE_SET_STAGES = {"differential": "differential", "module": "module"}


def _models_inputs(wc):
    inp = {"features": folder("extraction", cohort="training")}
    for name in config["models"]["feature_sets"]:
        if name in FEATURE_SET_STAGES:
            inp[name] = folder(FEATURE_SET_STAGES[name])
    if has_validation():
        inp["validation"] = folder("extraction", cohort="validation")
    if config["models"].get("clinical"):
        inp["clinical"] = config["models"]["clinical"]
    return inp


def _models_args(wc, input):
    # one argument per set, NAME=FOLDER (or all=all); the shell line quotes each element with :q, and the
    # names are the schema's enum (all, differential, module)
    parts = []
    for name in config["models"]["feature_sets"]:
        source = input[name] if name in FEATURE_SET_STAGES else "all"
        parts += ["--feature-set", "=".join((name, str(source)))]
    if has_validation():
        parts += ["--validation-features", input.validation]
    if config["models"].get("clinical"):
        parts += ["--clinical", input.clinical]
    return args(parts)


rule models:
    input:
        unpack(_models_inputs),
    output:
        directory(folder("models")),
    log:
        log_path("models"),
    params:
        options=_models_args,
        config=CONFIG,
    threads: threads_of("models")
    shell:
        "{RG} models --features {input.features:q} {params.options:q} --config {params.config:q} "
        "--n-jobs {threads} --out {output:q} > {log:q} 2>&1"
