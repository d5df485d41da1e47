"""The `search` tool: a local knowledge base in SQLite FTS5, ranked with BM25.

    kb = KnowledgeBase(home / "kb" / "kb.db")
    kb.add_file("handbook.md")                 # txt, md, pdf (pypdf)
    kb.search("remote work policy", k=3)       # [{"source", "title", "snippet", "score", ...}]

Files are split into passages of about 800 characters on paragraph boundaries; each passage
is one FTS5 row, so a hit carries its source file, its position and a snippet to cite.
Re-adding a file replaces its passages (same content hash: nothing to do).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".pdf": "pdf"}
PASSAGE_CHARS = 800  # long enough to hold an answer, short enough to cite precisely
_STOP = set("""a an and are as at be but by can do does did for from has have how i in is it its of on or our
please say says show so tell than that the their there these this to us was we what when where which who why
will with would you your about me my find look up search handbook docs documentation says""".split())


class KnowledgeBaseError(ValueError):
    """A file that cannot be added: unknown type, unreadable, or empty."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, title TEXT NOT NULL, kind TEXT NOT NULL,
    sha256 TEXT NOT NULL, chars INTEGER NOT NULL, added_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    text, title UNINDEXED, doc_id UNINDEXED, position UNINDEXED, tokenize = 'porter unicode61'
);
"""


def read_document(path: Path) -> tuple[str, str]:
    """(title, plain text) of a txt, md or pdf file."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise KnowledgeBaseError(f"{path}: unsupported file type {path.suffix or '(none)'}; "
                                 f"add {', '.join(sorted(SUFFIXES))} files")
    if not path.is_file():
        raise KnowledgeBaseError(f"{path}: no such file")
    if kind == "pdf":
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(str(path))
            text = "\n\n".join((page.extract_text() or "") for page in reader.pages)
            title = (reader.metadata.title if reader.metadata else None) or path.stem
        except (PdfReadError, OSError, ValueError) as e:
            raise KnowledgeBaseError(f"{path}: not a readable PDF ({e})") from None
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise KnowledgeBaseError(f"{path}: not UTF-8 text; save it as UTF-8 and add it again") from None
        title = path.stem
        if kind == "markdown":
            m = re.search(r"^#\s+(.+)$", text, re.M)
            title = m.group(1).strip() if m else title
            text = re.sub(r"^#{1,6}\s*", "", text, flags=re.M)
    if not text.strip():
        raise KnowledgeBaseError(f"{path}: no text found (a scanned PDF needs OCR first)")
    return title, text


def split_passages(text: str, size: int = PASSAGE_CHARS) -> list[str]:
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out, cur = [], ""
    for p in paras:
        while len(p) > size:  # a very long paragraph is cut on a sentence end where it can be
            cut = p.rfind(". ", 0, size)
            cut = cut + 1 if cut > size // 2 else size
            out.append(p[:cut].strip())
            p = p[cut:].strip()
        if cur and len(cur) + len(p) + 2 > size:
            out.append(cur)
            cur = p
        else:
            cur = f"{cur}\n\n{p}" if cur else p
    if cur:
        out.append(cur)
    return out


def fts_query(query: str) -> str:
    """An FTS5 MATCH expression from free text: content words OR-ed, each quoted (no syntax leaks)."""
    words = [w for w in re.findall(r"[\w']+", query.lower()) if w not in _STOP and len(w) > 1]
    words = list(dict.fromkeys(w.replace("'", "") for w in words))
    return " OR ".join(f'"{w}"' for w in words)


class KnowledgeBase:
    def __init__(self, db_path: str | Path):
        self.path = Path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    def add_file(self, path: str | Path) -> dict:
        """Index one file (replacing an earlier version of it); returns the document's summary."""
        path = Path(path).expanduser().absolute()
        title, text = read_document(path)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        passages = split_passages(text)
        con = self._connect()
        try:
            with con:
                row = con.execute("SELECT id, sha256 FROM documents WHERE path = ?", (str(path),)).fetchone()
                if row and row[1] == digest:
                    return {"path": str(path), "title": title, "passages": len(passages), "changed": False}
                if row:
                    con.execute("DELETE FROM passages WHERE doc_id = ?", (row[0],))
                    con.execute("DELETE FROM documents WHERE id = ?", (row[0],))
                cur = con.execute(
                    "INSERT INTO documents (path, title, kind, sha256, chars) VALUES (?, ?, ?, ?, ?)",
                    (str(path), title, SUFFIXES[path.suffix.lower()], digest, len(text)),
                )
                con.executemany(
                    "INSERT INTO passages (text, title, doc_id, position) VALUES (?, ?, ?, ?)",
                    [(p, title, cur.lastrowid, i) for i, p in enumerate(passages)],
                )
        finally:
            con.close()
        return {"path": str(path), "title": title, "passages": len(passages), "changed": True}

    def remove(self, path: str | Path) -> bool:
        path = str(Path(path).expanduser().absolute())
        con = self._connect()
        try:
            with con:
                row = con.execute("SELECT id FROM documents WHERE path = ?", (path,)).fetchone()
                if not row:
                    return False
                con.execute("DELETE FROM passages WHERE doc_id = ?", (row[0],))
                con.execute("DELETE FROM documents WHERE id = ?", (row[0],))
        finally:
            con.close()
        return True

    def documents(self) -> list[dict]:
        con = self._connect()
        try:
            rows = con.execute("SELECT path, title, kind, chars, added_at FROM documents ORDER BY id").fetchall()
        finally:
            con.close()
        return [dict(zip(("path", "title", "kind", "chars", "added_at"), r)) for r in rows]

    def search(self, query: str, k: int = 3) -> list[dict]:
        """The k best passages by BM25, each with source, title, position and a snippet."""
        match = fts_query(query)
        if not match:
            return []
        con = self._connect()
        try:
            rows = con.execute(
                """SELECT d.path, p.title, p.position, bm25(passages) AS score,
                          snippet(passages, 0, '[', ']', ' … ', 24), p.text
                   FROM passages p JOIN documents d ON d.id = p.doc_id
                   WHERE passages MATCH ? ORDER BY score LIMIT ?""",
                (match, int(k)),
            ).fetchall()
        finally:
            con.close()
        return [{"source": Path(path).name, "path": path, "title": title, "position": int(pos),
                 "score": round(-score, 6), "snippet": snip, "text": text}
                for path, title, pos, score, snip, text in rows]
