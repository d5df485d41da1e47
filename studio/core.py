"""The studio facade: one data home, its database, registry and job manager.

    studio = open_studio()          # or open_studio("/path/to/home")
    studio.registry.list()
    job_id = studio.jobs.submit("sft", config)  # a job kind of engines.run_job

Services of later features (datasets, chat, tools, evals) hang off this object as lazily
created attributes, so the window and the CLI share one entry point.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from studio.db import Database
from studio.home import Home, prepare_home
from studio.jobs import JobManager
from studio.models.registry import Registry


class Studio:
    def __init__(self, home: Home, db: Database):
        self.home = home
        self.db = db
        self.registry = Registry(db, home)

    @cached_property
    def jobs(self) -> JobManager:
        return JobManager(self.db, self.home)

    def close(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.shutdown()
        self.db.dispose()


def open_studio(home: str | os.PathLike | None = None, *, ensure_default_model: bool = True) -> Studio:
    h = prepare_home(home)
    db = Database(h.db_path)
    studio = Studio(h, db)
    if ensure_default_model:
        studio.registry.ensure_default_model()
        from studio.errors import StudioError
        from studio.starter.install import ensure_starter

        try:
            ensure_starter(studio)  # the packaged starter assistant, on top of the base
        except StudioError as e:  # a damaged package keeps the studio usable on the base model
            import sys

            print(f"studio: the starter assistant was not installed: {e.message} ({e.hint})", file=sys.stderr)
    return studio


def project_root() -> Path:
    return Path(__file__).resolve().parents[1]
