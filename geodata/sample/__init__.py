"""Deterministic synthetic sample inputs, shaped by the real population, settlements and roads.

``generate_sample(out_dir)`` writes the pipeline's embedded default input directory; run it from a
shell with ``python -m geodata.sample --out DIR``. See :mod:`geodata.sample.generate`.
"""

from geodata.sample.generate import (
    DEFAULT_PERIODS,
    DEFAULT_SEED,
    SampleManifest,
    ensure_sample,
    generate_sample,
)

__all__ = ["generate_sample", "ensure_sample", "SampleManifest", "DEFAULT_SEED", "DEFAULT_PERIODS"]
