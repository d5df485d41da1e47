"""Datasets: import, validate, browse, edit, rate and version training data in SQLite.

`DatasetService(studio)` (studio.datasets.service) is the entry point for the page and the CLI.
"""
