"""The knowledge base: FTS5 with BM25 over txt, md and pdf, hits carrying source and snippet."""

from __future__ import annotations

import pytest

from engines.tools.search import KnowledgeBase, KnowledgeBaseError, fts_query, split_passages


def make_pdf(path, text: str) -> None:
    """A one-page PDF with `text` in Helvetica, written by hand (no PDF writer needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))


@pytest.fixture
def kb(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "handbook.md").write_text(
        "# Employee Handbook\n\n## Remote work\n\nStaff may work remotely up to three days a week with "
        "their manager's approval.\n\n## Vacation\n\nFull-time staff get 25 vacation days per year.\n")
    (docs / "it.txt").write_text("Laptops are requested through the IT portal. Replacement takes five working days.")
    make_pdf(docs / "security.pdf", "Passwords must be rotated every ninety days")
    base = KnowledgeBase(tmp_path / "kb" / "kb.db")
    for f in sorted(docs.iterdir()):
        base.add_file(f)
    return base


def test_search_ranks_the_passage_that_answers_and_names_its_source(kb):
    hits = kb.search("what does our handbook say about remote work?")
    assert hits[0]["source"] == "handbook.md"
    assert hits[0]["title"] == "Employee Handbook"
    assert "remotely" in hits[0]["text"]
    assert "[" in hits[0]["snippet"]  # the matched terms are marked for the citation view


def test_pdf_text_is_indexed_through_pypdf(kb):
    hits = kb.search("password rotation")
    assert [h["source"] for h in hits][:1] == ["security.pdf"]
    assert "ninety days" in hits[0]["text"]


def test_plain_text_files_are_searchable(kb):
    assert kb.search("laptop replacement")[0]["source"] == "it.txt"


def test_readding_an_unchanged_file_changes_nothing_and_an_edit_replaces_it(kb, tmp_path):
    f = tmp_path / "docs" / "it.txt"
    assert kb.add_file(f)["changed"] is False
    f.write_text("Laptops now come from the equipment desk.")
    assert kb.add_file(f)["changed"] is True
    assert kb.search("equipment desk")[0]["source"] == "it.txt"
    assert kb.search("IT portal") == []


def test_query_syntax_cannot_break_the_fts_expression(kb):
    assert fts_query('"); DROP TABLE passages; --') == '"drop" OR "table" OR "passages"'
    kb.search('NEAR( "a" * OR AND')  # no sqlite3.OperationalError
    assert kb.search("the of and") == []


@pytest.mark.parametrize("name, content, why", [
    ("notes.docx", b"PK\x03\x04", "unsupported file type"),
    ("latin1.txt", "caf\xe9".encode("latin-1"), "not UTF-8"),
    ("empty.md", b"  \n", "no text found"),
    ("broken.pdf", b"%PDF-1.4 garbage", "PDF"),
])
def test_bad_files_are_refused_with_the_cause(tmp_path, name, content, why):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(KnowledgeBaseError, match=why):
        KnowledgeBase(tmp_path / "kb.db").add_file(f)


def test_long_text_is_split_into_citable_passages():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 60 for i in range(20))
    parts = split_passages(text, size=800)
    assert len(parts) > 5
    assert all(len(p) <= 800 for p in parts)
    assert "".join(parts).count("Paragraph") == 20
