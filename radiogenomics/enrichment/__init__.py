"""enrichment stage."""
