"""inputs domain."""
