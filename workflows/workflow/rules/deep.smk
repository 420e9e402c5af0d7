# Deep path (config deep.enabled): MONAI ResNet on lesion crops, Grad-CAM, deep features.


rule deep_train:
    input:
        cases=config["imaging"].get("cases") or [],
    output:
        predictions=R("deep/predictions.parquet"),
        embeddings=R("deep/embeddings_patient.parquet"),
        gradcam=directory(R("deep/gradcam")),
    log:
        log_path("deep"),
    params:
        out=R("deep"),
        epochs=config.get("deep", {}).get("epochs", 5),
        device=config.get("deep", {}).get("device", "cpu"),
        seed=SEED,
    shell:
        "({RG} deep train --cases {input.cases} --epochs {params.epochs} --device {params.device} "
        "--seed {params.seed} --out {params.out} "
        "&& {RG} deep embed --cases {input.cases} --model {params.out}/model.pt --out {params.out} "
        "&& {RG} deep gradcam --cases {input.cases} --model {params.out}/model.pt --out {params.out}/gradcam) "
        "> {log} 2>&1"
