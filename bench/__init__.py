"""Benchmarks, not tests: `python -m bench.pipeline` times and checks the reel pipeline (see bench/README.md)."""
