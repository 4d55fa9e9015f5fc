"""Celery settings of a gap-monitor worker, read by ``dagster_celery.app`` when this folder is on
``PYTHONPATH`` (see deploy/README.md): the broker and result backend come from the environment,
the same variables the launching process gives ``dagster_celery.celery_executor``."""

import os

broker_url = os.environ["GAP_MONITOR_CELERY_BROKER"]
result_backend = os.environ.get("GAP_MONITOR_CELERY_BACKEND") or broker_url
# one step at a time per worker process; a step holds a whole province set in memory
worker_prefetch_multiplier = 1
task_acks_late = True
