# Simpson similarity of features' enriched terms -> auxiliary features -> module + network.


rule module:
    input:
        enrichment=R("enrichment/enrichment.parquet"),
        differential=R("differential/differential.parquet"),
        associations=R("association/positive_specific.parquet"),
    output:
        module=R("module/module.parquet"),
        similarity=R("module/similarity.parquet"),
        matrix=R("module/similarity_matrix.parquet"),
        graphml=R("module/network.graphml"),
        cyjs=R("module/network.cyjs"),
        figure=report(R("module/network.png"), caption="../report/module.rst", category="Feature module"),
    log:
        log_path("module"),
    params:
        out=R("module"),
        threshold=config.get("module", {}).get("simpson_threshold", 0.6),
        seed=SEED,
    shell:
        "{RG} module --enrichment {input.enrichment} --differential {input.differential} "
        "--associations {input.associations} --threshold {params.threshold} --seed {params.seed} --out {params.out} > {log} 2>&1"
