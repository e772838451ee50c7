"""Kizuki benchmarks: each figure is judged against a baseline measured in the same run."""
