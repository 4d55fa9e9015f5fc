"""cells domain."""
