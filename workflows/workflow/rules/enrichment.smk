# Over-representation of each feature's HER2-positive-specific genes in GO / KEGG.


rule enrichment:
    input:
        associations=R("association/positive_specific.parquet"),
        gmt=config["enrichment"]["gmt"],
        expression=expression_dir() + "/expression.parquet",
    output:
        table=R("enrichment/enrichment.parquet"),
    log:
        log_path("enrichment"),
    params:
        out=R("enrichment"),
        gmt=" ".join(f"--gmt {g}" for g in config["enrichment"]["gmt"]),
        # default background: the genes measured in the expression table
        background=lambda wc, input: config["enrichment"].get("background") or input.expression,
    shell:
        "{RG} enrich --associations {input.associations} {params.gmt} --background {params.background} --offline "
        "--out {params.out} > {log} 2>&1"
