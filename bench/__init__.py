"""Benchmarks: the product's kernels beside the fastest libraries, measured in the same run."""
