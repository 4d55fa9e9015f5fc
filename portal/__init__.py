"""Read-only download portal for the published outputs."""
