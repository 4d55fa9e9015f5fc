"""Quarter partitions of the speed tiles (``2026Q3``), added as input files for them appear."""

import dagster as dg

quarters = dg.DynamicPartitionsDefinition(name="quarter")
