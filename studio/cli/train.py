"""`studio` subcommands of the train area (registered by studio.cli)."""

from __future__ import annotations


def register(sub, groups) -> None:
    """Add this area's subcommands to the `studio` parser. Nothing yet."""
