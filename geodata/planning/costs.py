"""Unit costs and reach of the infrastructure a plan proposes, each with its source.

The figures are planning defaults, not quotes: every published plan names them (``describe``), and
a user changes them in one place. Costs are in US dollars of the source's year, as the source
states them; convert and adjust to local prices before a tender.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from geodata.kernels.coverage import DEFAULT_RANGE_CAP_M
from geodata.technology import TECH_RANK

__all__ = ["PlanCosts", "DEFAULT_COSTS"]

_OUGHTON = (
    "E. J. Oughton et al., open techno-economic model of 4G/5G universal broadband "
    "(pytal/podis lineage), COSTS table of April 2021"
)


@dataclass(frozen=True)
class PlanCosts:
    """What a new mobile site reaches and costs, and what a km of new fibre costs."""

    #: Technology of the planned sites (default a rural 4G macro cell; "5G" plans 5G sites).
    site_technology: str = "4G"
    #: Radius (km) a new site serves; by default the planning radius the coverage model itself
    #: credits to an existing site of that technology (``DEFAULT_RANGE_CAP_M``: 2G 10 km, 3G 6 km,
    #: 4G 4 km, 5G 1 km), so a planned site counts as the existing ones do.
    site_radius_km: float | None = None
    site_radius_source: str = (
        "the coverage model's macro-cell planning radius for the technology "
        "(geodata.kernels.coverage.DEFAULT_RANGE_CAP_M)"
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

    def __post_init__(self) -> None:
        if self.site_technology not in TECH_RANK[1:]:
            raise ValueError(
                f"site_technology must be one of {TECH_RANK[1:]}, got {self.site_technology!r}"
            )
        if self.site_radius_km is None:
            rank = TECH_RANK.index(self.site_technology)
            object.__setattr__(self, "site_radius_km", DEFAULT_RANGE_CAP_M[rank] / 1000.0)
        elif not 0 < self.site_radius_km < 100:
            raise ValueError(f"site_radius_km must be in (0, 100), got {self.site_radius_km}")

    def describe(self) -> dict[str, object]:
        """Every figure with its source, for provenance and metadata."""
        return asdict(self)


DEFAULT_COSTS = PlanCosts()
