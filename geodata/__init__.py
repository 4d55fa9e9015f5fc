"""digital-gap-monitor geospatial core.

Readers and validators for the field's formats, vectorised H3 kernels, indicators and writers.
Pure Python/numpy/Arrow: this package never imports Dagster.
"""

__version__ = "0.1.0"
