"""Prefect flows over the DVC pipeline (`pipeline`, `label_sync`), their schedules and the local Prefect server."""
