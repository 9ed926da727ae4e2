"""Benchmarks: seeded instance generators, baselines and the scripts that print the figures."""

__all__: list[str] = []
