"""Models of leads; they arrive with the issue that builds the feature."""
