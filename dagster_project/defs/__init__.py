"""Definitions grouped by domain, merged in dagster_project.definitions."""
