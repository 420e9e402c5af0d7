"""expression stage."""
