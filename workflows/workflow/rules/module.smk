# Simpson similarity of features' enriched terms -> auxiliary features -> module + network.
# The enrichment is the enrichment stage's, or a table given as module.enrichment in the layout
# module.enrichment_format (clusterprofiler | gseapy), read by the module command through --config.


rule module:
    input:
        enrichment=enrichment_input(),  # the enrichment stage's folder, or the table given as module.enrichment
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
