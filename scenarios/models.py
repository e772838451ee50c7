"""Models of scenarios; they arrive with the issue that builds the feature."""
