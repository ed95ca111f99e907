"""Benchmarks: speed against PyTorch, the feed, devices, checkpoints. Run from the checkout (`python -m benchmarks.bench`); not installed."""
