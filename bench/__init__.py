"""bedboard benchmarks: every figure is a ratio against a baseline measured in the same run.

Run everything with ``python -m bench`` from the repository root (``--quick`` for a smoke
run); see bench/README.md.
"""
