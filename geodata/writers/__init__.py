"""Writers for published outputs; every one writes atomically (temp file, then os.replace)."""

from geodata.writers.geojson import write_geojson
from geodata.writers.tables import write_csv, write_geoparquet, write_parquet

__all__ = ["write_geojson", "write_csv", "write_geoparquet", "write_parquet"]
