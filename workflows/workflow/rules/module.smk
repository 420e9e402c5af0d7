# Simpson similarity of features' enriched terms -> auxiliary features -> module + network.


rule module:
    input:
        enrichment=folder("enrichment"),
        differential=folder("differential"),
        association=folder("association"),
    output:
        directory(folder("module")),
    log:
        log_path("module"),
    params:
        config=CONFIG,
    shell:
        "{RG} module --enrichment {input.enrichment:q} --differential {input.differential:q} "
        "--associations {input.association:q} --config {params.config:q} --out {output:q} > {log:q} 2>&1"
