"""Model Studio's headless core: database, datasets, jobs, registry, services and CLI.

Nothing here imports Qt (an import-linter contract in pyproject.toml checks it), so every
feature the window offers also runs from the `studio` command line and in tests.
"""

from studio.errors import StudioError, UserError

__all__ = ["StudioError", "UserError", "open_studio"]


def open_studio(home=None, *, ensure_default_model=True):
    """Open (and on first use create) a data home; see studio.core.Studio."""
    from studio.core import open_studio as _open

    return _open(home, ensure_default_model=ensure_default_model)
