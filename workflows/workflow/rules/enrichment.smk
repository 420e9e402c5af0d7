# Over-representation of each feature's HER2-positive-specific genes in GO / KEGG (not run when an
# enrichment table from another tool is supplied as module.enrichment).


rule enrichment:
    input:
        association=folder("association"),
        gmt=(config.get("enrichment") or {}).get("gmt") or [],
    output:
        directory(folder("enrichment")),
    log:
        log_path("enrichment"),
    params:
        libraries=lambda wc, input: args([x for g in input.gmt for x in ("--gmt", g)]),
        # default background: the genes the association tested (the merged expression table's)
        background=args("--background", config["enrichment"]["background"])
        if (config.get("enrichment") or {}).get("background") else [],
        config=CONFIG,
    shell:
        "{RG} enrich --associations {input.association:q} {params.libraries:q} {params.background:q} --offline "
        "--config {params.config:q} --out {output:q} > {log:q} 2>&1"
