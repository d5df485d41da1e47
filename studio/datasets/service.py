"""DatasetService: what the Datasets page and `studio datasets` do, headless.

    svc = DatasetService(studio)
    svc.import_file("chats.jsonl", "support")        # one transaction, all or nothing
    page = svc.page(version_id, limit=200)            # keyset paging, never OFFSET
    svc.edit("support", [Op.delete([3, 4])])          # every change makes a new version
    svc.export("support", "out.jsonl")

Versions are immutable: editing always starts from the dataset's latest version and writes a
new one (its `parent_version_id` is the one it came from); undo writes yet another version
equal to an earlier one. Methods are safe to call from a worker thread: each opens its own
session or connection.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from studio.datasets import shapes
from studio.datasets.importer import ImportResult, import_file, preview
from studio.datasets.rows import canonical_json, example_hash, resolve_version
from studio.datasets.store import VersionWriter, membership, write_transaction
from studio.db import Dataset, DatasetVersion
from studio.errors import NotFound, StudioError, UserError

SPLITS = ("train", "eval")
LENGTH_SQL = "COALESCE(e.token_count, e.char_count / 4)"  # tokens when counted, else ~4 chars a token
SORTS = {"position": "r.position", "length": LENGTH_SQL, "split": "r.split"}


@dataclass
class Op:
    """One edit of a version's rows; a list of them becomes one new version."""

    action: str  # delete | replace | insert_after | append | tag | untag | set_split
    positions: list[int] = field(default_factory=list)
    row: dict[str, Any] | None = None
    value: str = ""

    @staticmethod
    def delete(positions): return Op("delete", list(positions))
    @staticmethod
    def replace(position, row): return Op("replace", [position], row)
    @staticmethod
    def insert_after(position, row): return Op("insert_after", [position], row)
    @staticmethod
    def append(row): return Op("append", [], row)
    @staticmethod
    def tag(positions, tag): return Op("tag", list(positions), value=tag)
    @staticmethod
    def untag(positions, tag): return Op("untag", list(positions), value=tag)
    @staticmethod
    def set_split(positions, split): return Op("set_split", list(positions), value=split)


def _version_dict(v: DatasetVersion) -> dict[str, Any]:
    return {"id": v.id, "version": v.version, "content_hash": v.content_hash, "rows": v.row_count,
            "parent_version_id": v.parent_version_id, "note": v.note, "meta": v.meta or {},
            "created_at": v.created_at.isoformat() if v.created_at else None}


def _tags_add(tags: str, tag: str) -> str:
    have = [t for t in tags.split(",") if t]
    return ",".join(sorted(set(have) | {tag}))


def _tags_remove(tags: str, tag: str) -> str:
    return ",".join(t for t in tags.split(",") if t and t != tag)


class DatasetService:
    def __init__(self, studio):
        self.studio = studio
        self.db = studio.db

    # ---- import / export ----------------------------------------------------------------
    def preview(self, path, kind: str = "auto", limit: int = 50) -> dict[str, Any]:
        return preview(path, kind, limit)

    def import_file(self, path, name: str, kind: str = "auto", *, append: bool = False) -> ImportResult:
        return import_file(self.db, path, name, kind, append=append)

    def export(self, name: str, path, fmt: str | None = None, version: int | None = None, split: str | None = None) -> dict[str, Any]:
        """Write a version's rows (trl's format) to JSONL or Parquet, atomically."""
        path = Path(path)
        fmt = fmt or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "jsonl")
        if fmt not in ("jsonl", "parquet"):
            raise UserError(f"Unknown export format {fmt!r}", hint="use jsonl or parquet")
        v = resolve_version(self.db, name, version)
        if not path.parent.exists():
            raise UserError(f"{path.parent}: no such folder")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        n = 0
        try:
            if fmt == "jsonl":
                with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                    for data in self._iter_data(v.id, split):
                        f.write(data)
                        f.write("\n")
                        n += 1
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                writer = None
                batch: list[dict] = []

                def flush():
                    nonlocal writer
                    table = pa.Table.from_pylist(batch)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table.cast(writer.schema))
                    batch.clear()

                for data in self._iter_data(v.id, split):
                    batch.append(json.loads(data))
                    n += 1
                    if len(batch) >= 10_000:
                        flush()
                if batch or writer is None:
                    flush()
                writer.close()
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return {"name": name, "version": v.version, "rows": n, "path": str(path), "format": fmt, "content_hash": v.content_hash}

    def _iter_data(self, version_id: int, split: str | None = None):
        last = -1
        while True:
            with self.db.engine.connect() as c:
                q = ("SELECT r.position, e.data FROM version_rows r JOIN examples e ON e.id = r.example_id"
                     " WHERE r.version_id = ? AND r.position > ?" + (" AND r.split = ?" if split else "") +
                     " ORDER BY r.position LIMIT 5000")
                chunk = c.exec_driver_sql(q, (version_id, last, split) if split else (version_id, last)).all()
            if not chunk:
                return
            for _pos, data in chunk:
                yield data
            last = chunk[-1][0]

    # ---- reading -------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            out = []
            for ds in s.scalars(select(Dataset).order_by(Dataset.name)):
                latest = ds.versions[-1] if ds.versions else None
                out.append({"name": ds.name, "kind": ds.kind, "versions": len(ds.versions),
                            "version": latest.version if latest else None, "rows": latest.row_count if latest else 0,
                            "content_hash": latest.content_hash if latest else None})
            return out

    def show(self, name: str, version: int | None = None) -> dict[str, Any]:
        v = resolve_version(self.db, name, version)
        meta = dict(v.meta or {})
        splits, tags = meta.pop("splits", None), meta.pop("tags", None)
        if splits is None or tags is None:  # a version written by append_rows: count now
            splits, tags = self._count_splits_and_tags(v.id)
        with self.db.session() as s:
            ds = s.scalar(select(Dataset).where(Dataset.name == name))
            versions = [_version_dict(x) for x in ds.versions]
        return {"name": name, "kind": v.dataset.kind, "version": v.version, "version_id": v.id, "rows": v.row_count,
                "content_hash": v.content_hash, "note": v.note, "meta": meta, "splits": splits, "tags": tags,
                "versions": versions}

    def _count_splits_and_tags(self, version_id: int) -> tuple[dict[str, int], dict[str, int]]:
        with self.db.engine.connect() as c:
            splits = dict(c.exec_driver_sql(
                "SELECT split, count(*) FROM version_rows WHERE version_id = ? GROUP BY split", (version_id,)).all())
            tags: dict[str, int] = {}
            for t, n in c.exec_driver_sql(
                    "SELECT tags, count(*) FROM version_rows WHERE version_id = ? AND tags != '' GROUP BY tags", (version_id,)):
                for one in t.split(","):
                    tags[one] = tags.get(one, 0) + n
        return splits, tags

    def page(self, version_id: int, *, after: tuple | None = None, limit: int = 200, sort: str = "position",
             descending: bool = False, split: str | None = None, tag: str | None = None,
             min_len: int | None = None, max_len: int | None = None, search: str | None = None,
             positions: list[int] | None = None) -> list[dict[str, Any]]:
        """One page of rows after the keyset `after` = (sort key, position) of the last row shown.

        Default order walks the (version_id, position) index, so every page costs the same
        however deep the user scrolls; other sorts use SQLite's top-N sort over the version.
        """
        if sort not in SORTS:
            raise UserError(f"Unknown sort {sort!r}", hint=f"one of {', '.join(SORTS)}")
        key = SORTS[sort]
        where = ["r.version_id = ?"]
        params: list[Any] = [version_id]
        if split:
            where.append("r.split = ?")
            params.append(split)
        if tag:
            where.append("(',' || r.tags || ',') LIKE ?")
            params.append(f"%,{tag},%")
        if min_len is not None:
            where.append(f"{LENGTH_SQL} >= ?")
            params.append(min_len)
        if max_len is not None:
            where.append(f"{LENGTH_SQL} <= ?")
            params.append(max_len)
        if positions is not None:  # the rows a quality finding links to
            where.append(f"r.position IN ({','.join(str(int(p)) for p in positions) or '-1'})")
        if search and search.strip():
            self.ensure_search_index()
            where.append("r.example_id IN (SELECT rowid FROM examples_fts WHERE examples_fts MATCH ?)")
            params.append(_fts_query(search))
        cmp = "<" if descending else ">"
        if after is not None:
            if sort == "position":
                where.append(f"r.position {cmp} ?")
                params.append(after[1])
            else:
                where.append(f"({key}, r.position) {cmp} (?, ?)")
                params += [after[0], after[1]]
        order = "DESC" if descending else "ASC"
        order_by = f"r.position {order}" if sort == "position" else f"{key} {order}, r.position {order}"
        q = (f"SELECT r.position, {key} AS k, r.split, r.tags, e.data, {LENGTH_SQL}, e.token_count, e.id"
             f" FROM version_rows r JOIN examples e ON e.id = r.example_id WHERE {' AND '.join(where)}"
             f" ORDER BY {order_by} LIMIT ?")
        params.append(limit)
        counter = self._row_counter()
        with self.db.engine.connect() as c:
            rows = c.exec_driver_sql(q, tuple(params)).all()
        counted = self._count_tokens(counter, [r[7] for r in rows if r[6] is None])
        out = []
        for pos, k, sp, tags, data, length, tokens, ex_id in rows:
            row = json.loads(data)
            user, answer = shapes.summary(row)
            tokens = tokens if tokens is not None else counted.get(ex_id)
            out.append({"position": pos, "key": k, "split": sp, "tags": tags, "length": tokens if tokens is not None else length,
                        "exact": tokens is not None, "user": user, "answer": answer, "example_id": ex_id,
                        "turns": len(shapes.as_messages(row))})
        return out

    def _row_counter(self):
        """The one row counter (studio.datasets.tokens), its cache made current; None without a base."""
        from studio.datasets.tokens import ensure_basis, row_counter

        try:
            counter = row_counter(self.studio)
        except StudioError:  # an unreadable base model leaves the estimates in place
            return None
        if counter is not None:
            ensure_basis(self.studio, counter)
        return counter

    def _count_tokens(self, counter, example_ids: list[int]) -> dict[int, int]:
        """Exact counts for a page's uncounted rows (cached for the next page and the report)."""
        from studio.datasets.tokens import cached_counts

        return cached_counts(self.studio, example_ids, counter) if counter and example_ids else {}

    def get_row(self, version_id: int, position: int) -> dict[str, Any]:
        with self.db.engine.connect() as c:
            r = c.exec_driver_sql(
                "SELECT e.data, r.split, r.tags, e.token_count, e.id FROM version_rows r JOIN examples e ON e.id = r.example_id"
                " WHERE r.version_id = ? AND r.position = ?", (version_id, position)).first()
        if r is None:
            raise NotFound(f"Row {position} is not in this version")
        return {"row": json.loads(r[0]), "split": r[1], "tags": r[2], "tokens": r[3], "example_id": r[4], "position": position}

    # ---- search --------------------------------------------------------------------------
    def ensure_search_index(self) -> int:
        """Index examples added since the last search (examples only grow); returns how many.

        Works in short transactions of 20,000 examples, each re-reading the high-water mark
        under the write lock, so edits interleave and two callers never index a row twice.
        """
        with self.db.engine.connect() as c:  # a read first: no write lock when nothing is new
            done = c.exec_driver_sql("SELECT value FROM settings WHERE key = 'datasets.fts_upto'").scalar()
            top = c.exec_driver_sql("SELECT max(id) FROM examples").scalar() or 0
        if done is not None and int(json.loads(str(done))) >= top:
            return 0
        n = 0
        while True:
            with write_transaction(self.db) as con:
                done = con.execute("SELECT value FROM settings WHERE key = 'datasets.fts_upto'").fetchone()
                upto = int(json.loads(str(done[0]))) if done else 0  # JSON affinity may give an int
                chunk = con.execute("SELECT id, data FROM examples WHERE id > ? ORDER BY id LIMIT 20000", (upto,)).fetchall()
                if not chunk:
                    return n
                con.executemany("INSERT INTO examples_fts (rowid, text) VALUES (?, ?)",
                                [(i, shapes.row_text(json.loads(d))) for i, d in chunk])
                con.execute("INSERT INTO settings (key, value) VALUES ('datasets.fts_upto', ?)"
                            " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (json.dumps(chunk[-1][0]),))
                n += len(chunk)

    # ---- editing: every change is a new version ------------------------------------------
    def edit(self, name: str, ops: list[Op], note: str = "") -> dict[str, Any]:
        """Apply `ops` to the latest version of `name` and store the result as a new version."""
        with self.db.session() as s:
            ds = s.scalar(select(Dataset).where(Dataset.name == name))
            if ds is None:
                raise NotFound(f"No dataset named {name!r}", hint="see `studio datasets list`")
            kind, dataset_id = ds.kind, ds.id
        for op in ops:
            if op.row is not None:
                row, problems = shapes.map_record(op.row, _shape_of(op.row, kind))
                if problems:
                    raise UserError("The example is not valid: " + "; ".join(problems), hint="fix the example and save again")
                op.row = row
            if op.action in ("set_split",) and op.value not in SPLITS:
                raise UserError(f"Unknown split {op.value!r}", hint="use train or eval")
            if op.action in ("tag", "untag") and (not op.value.strip() or "," in op.value):
                raise UserError(f"A tag must be a non-empty word without commas, not {op.value!r}")
        with write_transaction(self.db) as con:
            parent = con.execute("SELECT id FROM dataset_versions WHERE dataset_id = ? ORDER BY version DESC LIMIT 1",
                                 (dataset_id,)).fetchone()
            members = membership(con, parent[0]) if parent else []
            # entries: [example_id or None, hash, split, tags, data or None]
            entries: list[list[Any]] = [[ex, h, sp, tg, None] for _p, ex, sp, tg, h in members]
            index = {p: i for i, (p, *_rest) in enumerate(members)}
            entries = _apply(entries, index, ops, kind)
            w = VersionWriter(con, dataset_id, parent[0] if parent else None, note or _describe(ops))
            for ex_id, h, sp, tg, data in entries:
                if ex_id is not None:
                    w.add_existing(ex_id, h, sp, tg)
                else:
                    w.add_row(kind, data, h, shapes.text_length(json.loads(data)), "edit", sp, tg)
            version_id, version, digest = w.finish()
        return {"name": name, "version": version, "version_id": version_id, "rows": w.position, "content_hash": digest}

    def revert(self, name: str, version: int) -> dict[str, Any]:
        """Undo: a new version with exactly the rows of an earlier one (same content hash)."""
        old = resolve_version(self.db, name, version)
        with write_transaction(self.db) as con:
            latest = con.execute("SELECT id FROM dataset_versions WHERE dataset_id = ? ORDER BY version DESC LIMIT 1",
                                 (old.dataset_id,)).fetchone()[0]
            w = VersionWriter(con, old.dataset_id, latest, f"restore version {version}", {"restored_from": version})
            for _p, ex_id, sp, tg, h in membership(con, old.id):
                w.add_existing(ex_id, h, sp, tg)
            version_id, new_version, digest = w.finish()
        return {"name": name, "version": new_version, "version_id": version_id, "rows": w.position, "content_hash": digest}

    def split(self, name: str, eval_fraction: float = 0.1, seed: int = 0) -> dict[str, Any]:
        """A reproducible train/eval split of the latest version: same seed, same split."""
        if not 0.0 <= eval_fraction < 1.0:
            raise UserError(f"The eval fraction must be in [0, 1), not {eval_fraction}")
        v = resolve_version(self.db, name)
        with write_transaction(self.db) as con:
            members = membership(con, v.id)
            order = list(range(len(members)))
            random.Random(seed).shuffle(order)
            n_eval = round(len(members) * eval_fraction)
            eval_idx = set(order[:n_eval])
            w = VersionWriter(con, v.dataset_id, v.id, f"split eval={eval_fraction} seed={seed}",
                              {"split": {"eval_fraction": eval_fraction, "seed": seed}})
            for i, (_p, ex_id, _sp, tg, h) in enumerate(members):
                w.add_existing(ex_id, h, "eval" if i in eval_idx else "train", tg)
            version_id, version, digest = w.finish()
        return {"name": name, "version": version, "version_id": version_id, "rows": len(members),
                "train": len(members) - n_eval, "eval": n_eval, "seed": seed, "content_hash": digest}

    def delete_dataset(self, name: str) -> None:
        with self.db.session() as s:
            ds = s.scalar(select(Dataset).where(Dataset.name == name))
            if ds is None:
                raise NotFound(f"No dataset named {name!r}")
            s.delete(ds)

    # ---- quality -------------------------------------------------------------------------
    def stats(self, name: str, version: int | None = None, *, tokenizer=None) -> dict[str, Any]:
        from studio.datasets.quality import quality_report

        v = resolve_version(self.db, name, version)
        return quality_report(self.studio, v, tokenizer=tokenizer)


def _shape_of(row: dict[str, Any], kind: str) -> str:
    shape = shapes.shape_for_kind(row, kind)
    if shape is None:
        raise UserError("The example has none of the expected fields", hint=f"a {kind} row, see the kinds in the docs")
    if shapes.new_mapping(shape).kind != kind:
        raise UserError(f"This dataset holds {kind} rows; the example is a {shapes.new_mapping(shape).kind} row")
    return shape


def _new_entry(row: dict[str, Any], split: str, tags: str) -> list[Any]:
    data = canonical_json(row)
    return [None, example_hash(data), split, tags, data]


def _apply(entries: list[list[Any]], index: dict[int, int], ops: list[Op], kind: str) -> list[list[Any]]:
    """Apply ops whose positions refer to the parent version's positions."""
    def at(pos: int) -> int:
        if pos not in index:
            raise UserError(f"Row {pos} is not in the latest version", hint="reload the dataset and try again")
        return index[pos]

    deleted: set[int] = set()
    inserts: dict[int, list[list[Any]]] = {}
    appended: list[list[Any]] = []
    for op in ops:
        if op.action == "delete":
            deleted |= {at(p) for p in op.positions}
        elif op.action == "replace":
            i = at(op.positions[0])
            entries[i] = _new_entry(op.row, entries[i][2], entries[i][3])
        elif op.action == "insert_after":
            i = at(op.positions[0])
            inserts.setdefault(i, []).append(_new_entry(op.row, entries[i][2], entries[i][3]))
        elif op.action == "append":
            appended.append(_new_entry(op.row, "train", ""))
        elif op.action in ("tag", "untag", "set_split"):
            for p in op.positions:
                e = entries[at(p)]
                if op.action == "tag":
                    e[3] = _tags_add(e[3], op.value.strip())
                elif op.action == "untag":
                    e[3] = _tags_remove(e[3], op.value.strip())
                else:
                    e[2] = op.value
        else:
            raise UserError(f"Unknown edit {op.action!r}")
    out = []
    for i, e in enumerate(entries):
        if i not in deleted:
            out.append(e)
        out += inserts.get(i, [])
    return out + appended


def _describe(ops: list[Op]) -> str:
    parts = []
    for op in ops:
        n = len(op.positions)
        parts.append({"delete": f"delete {n} rows", "replace": "edit a row", "insert_after": "duplicate a row",
                      "append": "add a row", "tag": f"tag {n} rows {op.value!r}", "untag": f"untag {n} rows {op.value!r}",
                      "set_split": f"move {n} rows to {op.value}"}[op.action])
    return "; ".join(parts)


def _fts_query(text: str) -> str:
    """User words as an FTS5 query: each word quoted (no syntax errors), all must match, and the
    last word may be a prefix (search as you type)."""
    words = ['"' + w.replace('"', '""') + '"' for w in text.split()]
    return " ".join(words) + "*"
