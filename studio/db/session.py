"""Opening the studio database: SQLite with WAL and foreign keys, migrated on open.

`Database(path)` checks the file is a SQLite database, refuses a schema newer than this
build knows (never silent damage), runs pending Alembic migrations, and hands out sessions.
Sessions are short-lived; each thread opens its own (`with db.session() as s:`).
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from studio.errors import StudioError

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def known_revisions() -> set[str]:
    """Revision ids of the migrations this build ships, read from their file names.

    Importing alembic costs ~0.3 s, so the start-up check does not: each migration file is
    named `<revision>_<slug>.py` (a test checks this agrees with alembic's own view).
    """
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py")}


def head_revision() -> str:
    return max(known_revisions())


def _set_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Database:
    def __init__(self, path: str | Path, *, migrate: bool = True):
        self.path = Path(path)
        self._check_file()
        self.engine: Engine = create_engine(
            f"sqlite:///{self.path}", connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(self.engine, "connect", _set_pragmas)
        try:
            with self.engine.connect() as c:
                c.exec_driver_sql("PRAGMA journal_mode=WAL")
        except Exception as e:  # sqlite3.DatabaseError "file is not a database" and friends
            raise self._corrupt(e) from e
        self.schema_version = self._check_schema()
        if migrate and self.schema_version != head_revision():
            self._migrate()
            self.schema_version = head_revision()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _corrupt(self, e: Exception) -> StudioError:
        return StudioError(
            f"The studio database {self.path} is damaged or not a SQLite database ({e})",
            hint="move it aside (nothing was changed) and start again to create a new one, "
            "or restore it from a backup",
        )

    def _check_file(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb") as f:
            header = f.read(16)
        if header != b"SQLite format 3\x00":
            raise self._corrupt(ValueError("bad file header"))
        try:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            try:
                con.execute("PRAGMA schema_version").fetchone()
                if con.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("quick_check failed")
            finally:
                con.close()
        except sqlite3.DatabaseError as e:
            raise self._corrupt(e) from e

    def _check_schema(self) -> str | None:
        with self.engine.connect() as c:
            has = c.execute(
                text("SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'")
            ).first()
            if not has:
                return None
            rev = c.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if rev is not None and rev not in known_revisions():
            raise StudioError(
                f"The studio database {self.path} has schema version {rev}, newer than this "
                f"version of Model Studio knows (latest {head_revision()})",
                hint="upgrade Model Studio, or use another data home with --home; "
                "the database was not changed",
            )
        return rev

    def _migrate(self) -> None:
        from alembic import command

        with self.engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
