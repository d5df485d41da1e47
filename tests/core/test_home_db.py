"""The data home and the database: created, migrated, guarded against damage."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from sqlalchemy import text

from studio.core import open_studio
from studio.db import Database
from studio.db.session import head_revision
from studio.errors import StudioError
from studio.home import SUBDIRS, atomic_write_text


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_home_has_its_folders_and_a_migrated_wal_database(studio):
    for sub in SUBDIRS:
        assert (studio.home.root / sub).is_dir()
    assert studio.db.schema_version == head_revision()
    with studio.db.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_match_the_orm_models(studio):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from studio.db.models import Base

    with studio.db.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    # Areas may add raw SQL objects the ORM does not map (FTS5 tables, extra indexes);
    # anything the ORM declares must exist exactly as declared.
    flat = [d for group in diff for d in (group if isinstance(group, list) else [group])]
    missing = [d for d in flat if d[0] not in ("remove_table", "remove_index")]
    assert missing == []


def test_foreign_keys_are_enforced(studio):
    from studio.db import JobEvent

    with pytest.raises(Exception):
        with studio.db.session() as s:
            s.add(JobEvent(job_id=999, seq=1, type="log", ts=0.0, data={}))


def test_unwritable_home_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StudioError) as e:
        open_studio(blocker / "home", ensure_default_model=False)
    assert str(blocker / "home") in e.value.message
    assert "not writable" in e.value.message
    assert e.value.hint


def test_corrupt_database_is_refused_and_left_untouched(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    db = home / "studio.db"
    db.write_bytes(b"this is not sqlite at all" * 100)
    before = _sha(db)
    with pytest.raises(StudioError) as e:
        open_studio(home, ensure_default_model=False)
    assert str(db) in e.value.message
    assert "damaged" in e.value.message
    assert _sha(db) == before


def test_database_from_a_newer_schema_is_refused_and_left_untouched(tmp_path):
    home = tmp_path / "home"
    st = open_studio(home, ensure_default_model=False)
    st.close()
    db = home / "studio.db"
    con = sqlite3.connect(db)
    con.execute("UPDATE alembic_version SET version_num='9999_future'")
    con.commit()
    con.close()
    before = _sha(db)
    with pytest.raises(StudioError) as e:
        Database(db)
    assert "9999_future" in e.value.message and "newer" in e.value.message
    assert _sha(db) == before


def test_reopening_keeps_data(tmp_path):
    from studio.db import Setting

    st = open_studio(tmp_path / "h", ensure_default_model=False)
    with st.db.session() as s:
        s.add(Setting(key="price", value={"hidden": 0.5}))
    st.close()
    st = open_studio(tmp_path / "h", ensure_default_model=False)
    with st.db.session() as s:
        assert s.get(Setting, "price").value == {"hidden": 0.5}
        assert s.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    st.close()


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    atomic_write_text(target, "old")

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_revision_ids_from_file_names_agree_with_alembic():
    from alembic.script import ScriptDirectory

    from studio.db.session import _alembic_config, known_revisions

    script = ScriptDirectory.from_config(_alembic_config())
    assert known_revisions() == {s.revision for s in script.walk_revisions()}
    assert head_revision() == script.get_current_head()
