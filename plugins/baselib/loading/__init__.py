"""Loading validated rows into base tables."""
