"""Orchestration of the digital-gap-monitor pipeline: assets, checks, resources, schedules."""
