"""The targets scorecard: every unit against Vietnam's own digital-infrastructure targets."""
