"""The data home: the one directory where the studio keeps everything it stores.

    STUDIO_HOME, or `studio --home DIR`, or platformdirs.user_data_dir("model-studio")
    ├── studio.db      SQLite (WAL, foreign keys on), migrated by Alembic on open
    ├── models/        base models, converted HF directories, adapters
    ├── jobs/<id>/     spec.json, events.jsonl, log.txt, checkpoints/, output/
    ├── exports/       GGUF files and Ollama Modelfiles
    ├── kb/            the knowledge base for the search tool
    └── cache/         HF_HOME and other library caches point here
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError

SUBDIRS = ("models", "jobs", "exports", "kb", "cache")


def default_home() -> Path:
    env = os.environ.get("STUDIO_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("model-studio"))


def _in_home(name: str) -> property:
    """A read-only Path attribute: `name` under the home's root."""
    return property(lambda self: self.root / name, doc=f"root / {name!r}")


@dataclass(frozen=True)
class Home:
    root: Path

    db_path = _in_home("studio.db")
    models = _in_home("models")
    jobs = _in_home("jobs")
    exports = _in_home("exports")
    kb = _in_home("kb")
    cache = _in_home("cache")

    def job_dir(self, job_id: int) -> Path:
        return self.jobs / str(job_id)

    def cache_env(self) -> dict[str, str]:
        """Environment that keeps library caches inside the home (also given to job children)."""
        c = self.cache
        return {
            "HF_HOME": str(c / "huggingface"),
            "HF_DATASETS_CACHE": str(c / "huggingface" / "datasets"),
            "TRITON_CACHE_DIR": str(c / "triton"),
            "TORCHINDUCTOR_CACHE_DIR": str(c / "inductor"),
            "MPLCONFIGDIR": str(c / "matplotlib"),
            "XDG_CACHE_HOME": str(c),
        }


def prepare_home(root: str | os.PathLike | None = None) -> Home:
    """Create the home's folders, check that it is writable, and point caches into it."""
    path = Path(root).expanduser() if root else default_home()
    path = path.absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
        for sub in SUBDIRS:
            (path / sub).mkdir(exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise StudioError(
            f"The data home {path} is not writable: {e.strerror or e}",
            hint="choose another folder with --home DIR or STUDIO_HOME, or fix its permissions",
        ) from e
    home = Home(path)
    for key, value in home.cache_env().items():
        os.environ.setdefault(key, value)
    return home


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, then rename over the target."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
