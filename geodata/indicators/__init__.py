"""Indicators computed from the cell table.

* :mod:`geodata.indicators.service`: service classes (served / underserved / unserved / no data)
  per cell from named thresholds;
* :mod:`geodata.indicators.summaries`: province (63 and 34), region and national summaries,
  change between periods, national inequality;
* :mod:`geodata.indicators.inequality`: population-weighted Gini and Theil T (exact decomposition);
* :mod:`geodata.indicators.adoption`: adoption statistics as province indicators.

Import from the submodules; this package re-exports nothing.
"""

__all__: list[str] = []
