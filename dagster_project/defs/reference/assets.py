"""Reference boundaries of both province systems and the crosswalk between them."""

import dagster as dg
import geopandas as gpd

from geodata.reference import BOUNDARY_VALID_FROM, BOUNDARY_VERSIONS, load_crosswalk, load_provinces


@dg.asset(group_name="reference", kinds={"geojson"})
def province_boundaries() -> dg.Output[dict[str, gpd.GeoDataFrame]]:
    """Official province polygons of both boundary versions, keyed by official code.

    63 provinces until 30 June 2025 and 34 since 1 July 2025 (Resolution 202/2025/QH15), with the
    63 -> 34 crosswalk. Boundaries: Open Development Vietnam, CC BY-SA 4.0.
    """
    boundaries = {v: load_provinces(v) for v in BOUNDARY_VERSIONS}
    crosswalk = load_crosswalk()
    merged = crosswalk.groupby("new_code").size()
    return dg.Output(
        boundaries,
        metadata={
            "provinces_63": len(boundaries["63"]),
            "provinces_34": len(boundaries["34"]),
            "valid_from": dg.MetadataValue.json(BOUNDARY_VALID_FROM),
            "crosswalk_rows": len(crosswalk),
            "new_provinces_formed_by_merger": int((merged > 1).sum()),
            "licence": "CC BY-SA 4.0 (Open Development Vietnam / Dept. of Survey and Mapping)",
        },
    )
