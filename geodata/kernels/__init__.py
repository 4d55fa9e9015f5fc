"""Vectorised H3 kernels: arrays in, arrays out, no Python loop per row, pixel or cell."""
