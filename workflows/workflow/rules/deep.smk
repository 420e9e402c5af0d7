# Deep path, three switches (each needs the [deep] extra and imaging.cases with image and mask paths):
# - deep.enabled: a network on lesion crops of the training case sheet, its predictions,
#   penultimate-layer features and Grad-CAM overlays (`radiogenomics deep run`);
# - deep_comparison.enabled: backbone x learning rate x weight decay on one patient-wise split,
#   the comparison table and the chosen model (`radiogenomics deep compare`);
# - deep_features.enabled: cross-fitted deep features (each patient embedded by a network that never
#   saw it), ICC-filtered (`radiogenomics deep features`); with deep_features.into_models (default
#   true) the models stage runs a second time on them (`radiogenomics deep models`, results/models_deep:
#   LASSO, the seven classifiers, nomogram with models.clinical, decision curves). The imaging models
#   stage is unchanged: the embeddings of `deep run` never enter any model (the network saw those
#   patients' labels).


def deep_comparison_enabled():
    return bool(config["deep_comparison"]["enabled"])


def deep_features_enabled():
    return bool(config["deep_features"]["enabled"])


def models_deep_enabled():
    return deep_features_enabled() and bool(config["deep_features"]["into_models"])


def deep_outputs():
    """The deep path's result folders that this config asks for."""
    out = []
    if deep_enabled():
        out.append(folder("deep"))
    if deep_comparison_enabled():
        out.append(folder("deep_comparison"))
    if deep_features_enabled():
        out.append(folder("deep_features"))
    if models_deep_enabled():
        out.append(folder("models_deep"))
    return out


_deep_switches = [name for name, on in (("deep.enabled", deep_enabled()),
                                        ("deep_comparison.enabled", deep_comparison_enabled()),
                                        ("deep_features.enabled", deep_features_enabled())) if on]
if _deep_switches and not config["imaging"].get("cases"):
    raise ValueError(f"config: {' and '.join(_deep_switches)} need{'s' if len(_deep_switches) == 1 else ''} "
                     "imaging.cases (a case sheet with image and mask paths).")


def _deep_case_files(section, sheet=None):
    """The images (every sequence) and masks of the sheet a deep rule reads (see case_files)."""
    sheet = sheet or config["imaging"].get("cases")
    if not sheet:
        return []
    sec = config[section]
    return case_files(sheet, sequences=sec.get("sequences") or (), allow_outside_paths=sec["allow_outside_paths"])


rule deep:
    input:
        cases=config["imaging"].get("cases") or [],
        files=lambda wc: _deep_case_files("deep"),
    output:
        directory(folder("deep")),
    log:
        log_path("deep"),
    params:
        config=CONFIG,
    shell:
        "{RG} deep run --cases {input.cases:q} --config {params.config:q} --out {output:q} > {log:q} 2>&1"


rule deep_comparison:
    input:
        cases=config["imaging"].get("cases") or [],
        files=lambda wc: _deep_case_files("deep_comparison"),
    output:
        directory(folder("deep_comparison")),
    log:
        log_path("deep_comparison"),
    params:
        config=CONFIG,
    shell:
        "{RG} deep compare --cases {input.cases:q} --config {params.config:q} --out {output:q} > {log:q} 2>&1"


def _deep_features_inputs(wc):
    inp = {"cases": config["imaging"]["cases"]}
    validation = (config["imaging"].get("validation") or {}).get("cases")
    if validation:
        inp["external"] = validation
    inp["files"] = _deep_case_files("deep_features") + (
        _deep_case_files("deep_features", validation) if validation else [])
    return inp


rule deep_features:
    input:
        unpack(_deep_features_inputs),
    output:
        directory(folder("deep_features")),
    log:
        log_path("deep_features"),
    params:
        external=lambda wc, input: args("--external-cases", input.external) if "external" in input.keys() else [],
        config=CONFIG,
    shell:
        "{RG} deep features --cases {input.cases:q} {params.external:q} --config {params.config:q} "
        "--out {output:q} > {log:q} 2>&1"


def _models_deep_inputs(wc):
    inp = {"features": folder("deep_features")}
    if config["models"].get("clinical"):
        inp["clinical"] = config["models"]["clinical"]
    return inp


rule models_deep:
    input:
        unpack(_models_deep_inputs),
    output:
        directory(folder("models_deep")),
    log:
        log_path("models_deep"),
    params:
        clinical=lambda wc, input: args("--clinical", input.clinical) if "clinical" in input.keys() else [],
        config=CONFIG,
    threads: threads_of("models")
    shell:
        "{RG} deep models --features {input.features:q} {params.clinical:q} --config {params.config:q} "
        "--n-jobs {threads} --out {output:q} > {log:q} 2>&1"
