"""Everything that writes what users get, in one place.

=================  ==========================================================================
``outputs``        provenance records, cell GeoParquet, ``manifest.json``
``generations``    published generations (``assets/current``), the refresh lock, file modes
``downloads``      per-province GeoJSON downloads of cells and summaries (both versions)
``priorities``     gap-cluster files and their changes between quarters
``plans``          investment plan files: sites, routes, cost curves, changes, province maps
``scorecard``      the targets scorecard: tables, GeoJSON, status maps, trend charts
``maps``           every PNG map and chart (national maps carry Hoàng Sa and Trường Sa)
=================  ==========================================================================
"""
