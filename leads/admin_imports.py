"""Admin for this area of leads (being built)."""
