"""Models of tracking; they arrive with the issue that builds the feature."""
