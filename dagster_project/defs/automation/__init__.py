"""automation domain."""
