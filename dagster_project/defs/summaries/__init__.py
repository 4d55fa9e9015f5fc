"""summaries domain."""
