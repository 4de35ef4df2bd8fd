"""Benchmarks of drxlab's hot paths."""
