"""`studio` subcommands of the preference-training area (reward, dpo, grpo under `studio train`) (registered by studio.cli)."""

from __future__ import annotations


def register(sub, groups) -> None:
    """Add this area's subcommands to the `studio` parser. Nothing yet."""
