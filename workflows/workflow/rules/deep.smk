# Deep path (config deep.enabled): MONAI ResNet on lesion crops of the training case sheet, its
# predictions, penultimate-layer features and Grad-CAM overlays (`radiogenomics deep run`).

if deep_enabled() and not config["imaging"].get("cases"):
    raise ValueError("config: deep.enabled needs imaging.cases (a case sheet with image and mask paths).")


rule deep:
    input:
        cases=config["imaging"].get("cases") or [],
    output:
        directory(folder("deep")),
    log:
        log_path("deep"),
    params:
        config=CONFIG,
    shell:
        "{RG} deep run --cases {input.cases:q} --config {params.config:q} --out {output:q} > {log:q} 2>&1"
