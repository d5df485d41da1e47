"""Where UI tests save screenshots: a temp folder, so `make test` leaves the work tree clean.

`make screenshots` sets STUDIO_SCREENSHOTS=docs/screenshots to regenerate the documented ones
on purpose (see the Makefile).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SHOTS = Path(os.environ.get("STUDIO_SCREENSHOTS") or Path(tempfile.gettempdir()) / f"model-studio-screenshots-{os.getuid()}")


def save_shot(widget, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    assert widget.grab().save(str(path)), path
    return path
