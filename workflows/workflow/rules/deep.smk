# Deep path (config deep.enabled): MONAI ResNet on lesion crops of the training case sheet,
# then its penultimate-layer features and Grad-CAM overlays with the kept model.
# One rule runs the three CLI commands in turn (they share results/deep/ and its provenance.json).


def _deep(key, default=None):
    return (config.get("deep") or {}).get(key, default)


def _deep_train_options(wc):
    d = config.get("deep") or {}
    opts = [
        f"--arch {d.get('arch', 'resnet18')}",
        f"--size {int(d.get('size', 64))}",
        f"--margin {float(d.get('margin', 0.1))}",
        f"--background {d.get('background', 'keep')}",
        f"--intensity {d.get('intensity', 'uint8')}",
        f"--epochs {int(d.get('epochs', 30))}",
        f"--batch-size {int(d.get('batch_size', 16))}",
        f"--lr {float(d.get('lr', 1e-3))}",
        f"--weight-decay {float(d.get('weight_decay', 1e-4))}",
        f"--class-weights {d.get('class_weights', 'balanced')}",
        f"--patience {int(d.get('patience', 5))}",
        f"--min-epochs {int(d.get('min_epochs', 3))}",
        f"--validation {float(d.get('validation', 0.2))}",
        f"--test {float(d.get('test', 0.2))}",
        "--augment" if d.get("augment", True) else "--no-augment",
        "--max-pool" if d.get("max_pool", False) else "--no-max-pool",
    ]
    if d.get("pretrained"):
        opts.append(f"--pretrained '{d['pretrained']}'")
    return " ".join(opts)


if deep_enabled() and not config["imaging"].get("cases"):
    raise ValueError("config: deep.enabled needs imaging.cases (a case sheet with image and mask paths).")


rule deep:
    input:
        cases=config["imaging"].get("cases") or [],
    output:
        model=R("deep/model.pt"),
        predictions=R("deep/predictions.parquet"),
        embeddings=R("deep/embeddings_patient.parquet"),
        gradcam_table=R("deep/gradcam.parquet"),
        gradcam=directory(R("deep/gradcam")),
    log:
        log_path("deep"),
    params:
        out=R("deep"),
        train=_deep_train_options,
        layer=_deep("gradcam_layer", "layer4"),
        device=_deep("device", "auto"),
        seed=SEED,
    shell:
        "({RG} deep train --cases {input.cases} --out {params.out} {params.train} "
        "--device {params.device} --seed {params.seed} "
        "&& {RG} deep embed --cases {input.cases} --model {output.model} --device {params.device} "
        "--out {params.out} "
        "&& {RG} deep gradcam --cases {input.cases} --model {output.model} --layer {params.layer} "
        "--device {params.device} --out {params.out}) > {log} 2>&1"
