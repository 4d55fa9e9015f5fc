"""Unit costs and reach of the infrastructure a plan proposes, each with its source.

The figures are planning defaults, not quotes: every published plan names them (``describe``), and
a user changes them in one place. Costs are in US dollars of the source's year, as the source
states them; convert and adjust to local prices before a tender.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from geodata.kernels.coverage import DEFAULT_RANGE_CAP_M

__all__ = ["PlanCosts", "DEFAULT_COSTS"]

_OUGHTON = (
    "E. J. Oughton et al., open techno-economic model of 4G/5G universal broadband "
    "(pytal/podis lineage), COSTS table of April 2021"
)


@dataclass(frozen=True)
class PlanCosts:
    """What a new mobile site reaches and costs, and what a km of new fibre costs."""

    #: Radius (km) a new rural 4G macro site serves: the 4G planning radius the coverage model
    #: itself credits to a site (``geodata.kernels.coverage.DEFAULT_RANGE_CAP_M``), so a planned
    #: site counts as the existing ones do.
    site_radius_km: float = DEFAULT_RANGE_CAP_M[3] / 1000.0
    site_radius_source: str = (
        "the coverage model's 4G macro-cell planning radius (geodata.kernels.coverage)"
    )
    #: Capital cost of one new greenfield macro site (USD): equipment 40,000 + site build 30,000
    #: + installation 30,000.
    site_cost_usd: float = 100_000.0
    site_cost_source: str = f"{_OUGHTON}: equipment + site_build + installation"
    #: Capital cost of one km of new rural fibre (USD): 10 USD per metre.
    fibre_cost_usd_per_km: float = 10_000.0
    fibre_cost_source: str = f"{_OUGHTON}: fiber_rural_m = 10 USD/m"
    #: Factor on every straight-line stretch of a fibre route (where it leaves the roads):
    #: cables follow roads, fields and terrain, not the straight line.
    fibre_detour_factor: float = 1.3
    fibre_detour_source: str = (
        "assumption of this product: a route off the roads is taken as 30 % longer than the "
        "straight line (change it in geodata/planning/costs.py)"
    )

    def describe(self) -> dict[str, object]:
        """Every figure with its source, for provenance and metadata."""
        return asdict(self)


DEFAULT_COSTS = PlanCosts()
