"""Read-only download portal for the published outputs (``python -m portal``).

See :func:`portal.app.create_app` for the routes.
"""
