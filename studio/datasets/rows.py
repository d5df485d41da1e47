"""The smallest shared API over dataset versions: resolve, read rows, write a new version.

Versions are immutable. A new version copies the membership rows (integers) of its parent
and adds or replaces examples; examples are content-addressed, so unchanged rows are shared.
The Datasets area builds import, validation and editing on top of these functions; training,
chat (compare votes) and the rate view use them directly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import func, select

from studio.db import Database, Dataset, DatasetVersion, Example, VersionRow
from studio.errors import NotFound, UserError

KINDS = ("sft", "preference", "prompt")


def canonical_json(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def example_hash(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def resolve_version(db: Database, name: str, version: int | None = None) -> DatasetVersion:
    """The named dataset's version (the latest when version is None)."""
    with db.session() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == name))
        if ds is None:
            raise NotFound(f"No dataset named {name!r}", hint="see `studio datasets list`")
        q = select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
        q = q.where(DatasetVersion.version == version) if version is not None else q.order_by(DatasetVersion.version.desc())
        v = s.scalars(q.limit(1)).first()
        if v is None:
            raise NotFound(f"Dataset {name!r} has no version {version}")
        _ = v.dataset
        return v


def iter_rows(db: Database, version_id: int, split: str | None = None, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Rows of a version in order, as dicts (keyset-paged, constant memory)."""
    last = -1
    while True:
        with db.session() as s:
            q = (
                select(VersionRow.position, Example.data)
                .join(Example, Example.id == VersionRow.example_id)
                .where(VersionRow.version_id == version_id, VersionRow.position > last)
            )
            if split:
                q = q.where(VersionRow.split == split)
            chunk = s.execute(q.order_by(VersionRow.position).limit(batch)).all()
        if not chunk:
            return
        for pos, data in chunk:
            yield json.loads(data)
        last = chunk[-1][0]


class VersionHasher:
    """The version hash built one row at a time (bulk writers never hold all rows)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, ex_hash: str, split: str, tags: str) -> None:
        self._h.update(f"{ex_hash}\t{split}\t{tags}\n".encode())

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def version_hash(pairs: Iterable[tuple[str, str, str]]) -> str:
    """Hash of (example hash, split, tags) in order: equal content gives an equal hash."""
    h = VersionHasher()
    for ex_hash, split, tags in pairs:
        h.update(ex_hash, split, tags)
    return h.hexdigest()


def _get_or_add_example(s, kind: str, row: dict[str, Any], source: str) -> tuple[int, str]:
    data = canonical_json(row)
    h = example_hash(data)
    ex_id = s.scalar(select(Example.id).where(Example.content_hash == h, Example.kind == kind).limit(1))
    if ex_id is None:
        ex = Example(kind=kind, data=data, content_hash=h, char_count=len(data), source=source)
        s.add(ex)
        s.flush()
        ex_id = ex.id
    return ex_id, h


def append_rows(
    db: Database,
    name: str,
    kind: str,
    rows: Iterable[dict[str, Any]],
    *,
    split: str = "train",
    source: str = "",
    note: str = "",
    create: bool = True,
) -> DatasetVersion:
    """Add rows to a dataset as a new version (creating the dataset if needed), in one transaction."""
    if kind not in KINDS:
        raise UserError(f"Unknown dataset kind {kind!r}; one of {', '.join(KINDS)}")
    with db.session() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == name))
        if ds is None:
            if not create:
                raise NotFound(f"No dataset named {name!r}")
            ds = Dataset(name=name, kind=kind)
            s.add(ds)
            s.flush()
        elif ds.kind != kind:
            raise UserError(f"Dataset {name!r} holds {ds.kind} rows, not {kind}")
        parent = s.scalars(
            select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id).order_by(DatasetVersion.version.desc()).limit(1)
        ).first()
        version = DatasetVersion(
            dataset_id=ds.id,
            version=(parent.version + 1) if parent else 1,
            content_hash="",
            parent_version_id=parent.id if parent else None,
            note=note,
        )
        s.add(version)
        s.flush()
        pairs: list[tuple[str, str, str]] = []
        pos = 0
        if parent is not None:
            old = s.execute(
                select(VersionRow.example_id, VersionRow.split, VersionRow.tags, Example.content_hash)
                .join(Example, Example.id == VersionRow.example_id)
                .where(VersionRow.version_id == parent.id)
                .order_by(VersionRow.position)
            ).all()
            for ex_id, sp, tags, h in old:
                s.add(VersionRow(version_id=version.id, position=pos, example_id=ex_id, split=sp, tags=tags))
                pairs.append((h, sp, tags))
                pos += 1
        for row in rows:
            ex_id, h = _get_or_add_example(s, kind, row, source)
            s.add(VersionRow(version_id=version.id, position=pos, example_id=ex_id, split=split, tags=""))
            pairs.append((h, split, ""))
            pos += 1
        version.row_count = pos
        version.content_hash = version_hash(pairs)
        s.flush()
        vid = version.id
    return resolve_version_by_id(db, vid)


def resolve_version_by_id(db: Database, version_id: int) -> DatasetVersion:
    with db.session() as s:
        v = s.get(DatasetVersion, version_id)
        if v is None:
            raise NotFound(f"No dataset version with id {version_id}")
        _ = v.dataset
        return v


def count_rows(db: Database, version_id: int, split: str | None = None) -> int:
    with db.session() as s:
        q = select(func.count()).select_from(VersionRow).where(VersionRow.version_id == version_id)
        if split:
            q = q.where(VersionRow.split == split)
        return int(s.scalar(q) or 0)
