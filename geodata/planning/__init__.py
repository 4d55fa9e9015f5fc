"""Investment planning: where the next mobile sites go, what they reach and what they cost."""
