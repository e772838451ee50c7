"""Models of scoring; they arrive with the issue that builds the feature."""
