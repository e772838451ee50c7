"""Models of sfa_sync; they arrive with the issue that builds the feature."""
