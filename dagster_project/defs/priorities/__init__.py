"""Investment priorities: gap clusters and where to act first."""
