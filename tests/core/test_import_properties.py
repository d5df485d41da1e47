"""Property-based tests of the importers (JSONL, JSON, CSV, Parquet) on real SQLite.

Whatever the file holds (random shapes, wrong types, unicode, empty and huge values, broken
syntax, stray bytes), an import ends in exactly one of two ways:
- a clean import: the stored version has exactly the rows the result reports;
- a UserError that says what is wrong, with nothing stored at all.
Never another exception, and never a half-stored dataset.
"""

from __future__ import annotations

import csv
import io
import itertools
import json

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from studio.datasets.importer import import_file, preview
from studio.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore")
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

FIELDS = ["messages", "conversations", "prompt", "completion", "chosen", "rejected", "instruction", "input", "output",
          "answer", "tests", "system", "role", "content", "from", "value", "id", "notes", "__split__"]
ROLES = ["user", "assistant", "system", "tool", "human", "gpt", "bot", ""]

text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\n", '"', ",", "\t", "[", "{", "[INST]", "é", "日本語", "🙂", "\u2028", "\x00", "\ufeff"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "🙂", '"', ","]), st.integers(10_000, 60_000)),  # huge
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), text)
json_value = st.recursive(scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
turn = st.fixed_dictionaries({"role": st.sampled_from(ROLES), "content": st.one_of(text, json_value)})
sharegpt_turn = st.fixed_dictionaries({"from": st.sampled_from(ROLES), "value": st.one_of(text, json_value)})
turns = st.lists(turn, max_size=5)
# records close to the real shapes, with values of the right and of the wrong types
record = st.one_of(
    st.fixed_dictionaries({"messages": st.one_of(turns, json_value)}, optional={"id": scalar}),
    st.fixed_dictionaries({"conversations": st.lists(sharegpt_turn, max_size=4)}, optional={"system": text}),
    st.fixed_dictionaries({"prompt": st.one_of(text, turns), "completion": st.one_of(text, turns, scalar)}),
    st.fixed_dictionaries({"prompt": st.one_of(text, turns), "chosen": st.one_of(text, turns),
                           "rejected": st.one_of(text, turns, scalar)}),
    st.fixed_dictionaries({"instruction": text, "output": st.one_of(text, scalar)}, optional={"input": text}),
    st.fixed_dictionaries({"prompt": st.one_of(text, scalar)}, optional={"answer": scalar, "tests": json_value}),
    st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=5),
    json_value,
)
# records of the real shapes with values of the right types (mostly imports), to mix with the above
words = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30).map(
        lambda t: t if t.strip() else "x" + t),
    st.sampled_from(["[INST] hi", "{not json", "é", "日本語", "🙂", "a\u2028b", "\ufeffbom", 'say "hi", then go']),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "🙂", '"', ","]), st.integers(10_000, 60_000)),  # huge
)
GOOD = [
    st.builds(lambda q, a: {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}, words, words),
    st.builds(lambda q, a: {"prompt": q, "completion": a}, words, words),
    st.builds(lambda q, a, b: {"prompt": q, "chosen": a, "rejected": b}, words, words, words),
    st.builds(lambda q, a: {"instruction": q, "output": a}, words, words),
    st.builds(lambda q: {"prompt": q}, words),
]
# a file of one kind, where one row may be broken
rows_of_one_kind = st.builds(
    lambda rows, bad, at: rows[:at] + bad + rows[at:],
    st.sampled_from(GOOD).flatmap(lambda good: st.lists(good, min_size=1, max_size=6)),
    st.one_of(st.just([]), st.just([]), record.map(lambda r: [r])), st.integers(0, 6))
names = (f"d{i}" for i in itertools.count())



def counts(studio) -> tuple[int, ...]:
    with studio.db.engine.connect() as c:
        return tuple(c.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                     for t in ("datasets", "dataset_versions", "examples", "version_rows"))


def check_import(studio, path) -> None:
    """The one property: a clean import whose stored rows match, or a UserError with nothing stored."""
    before = counts(studio)
    try:
        preview(path)
    except UserError:
        pass
    name = next(names)
    try:
        r = import_file(studio.db, path, name)
    except UserError as e:
        assert e.message.strip()
        assert counts(studio) == before, "a failed import stored something"
        event("refused")
        return
    after = counts(studio)
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1
    assert after[3] - before[3] == r.rows > 0
    event(f"imported as {r.kind}")


@SETTINGS
@given(lines=st.one_of(rows_of_one_kind.map(lambda rs: [json.dumps(r, ensure_ascii=False) for r in rs]),
                      st.lists(st.one_of(record.map(json.dumps), text, st.binary(max_size=30)), max_size=6)),
       bom=st.booleans())
def test_jsonl_imports_cleanly_or_fails_clearly(studio, tmp_path, lines, bom):
    raw = b"\n".join(x if isinstance(x, bytes) else x.encode("utf-8", "surrogatepass") for x in lines)
    path = tmp_path / "data.jsonl"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + raw)
    check_import(studio, path)


@SETTINGS
@given(body=st.one_of(rows_of_one_kind.map(lambda rs: json.dumps(rs, indent=1)), json_value.map(json.dumps),
                      st.text(max_size=60).map(lambda t: "[" + t)))
def test_json_array_imports_cleanly_or_fails_clearly(studio, tmp_path, body):
    path = tmp_path / "data.json"
    path.write_text(body, encoding="utf-8", errors="surrogatepass")
    check_import(studio, path)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


csv_cell = st.one_of(text, record.map(json.dumps), turns.map(json.dumps))


def _table(header: list[str], cells: list[str], ragged: bool) -> tuple[list[str], list[list[str]]]:
    n = max(1, len(header))
    rows = [cells[i:i + n] for i in range(0, len(cells), n)]
    return header, rows if ragged else [r for r in rows if len(r) == n]


header = st.one_of(
    st.sampled_from([["prompt", "completion"], ["prompt", "chosen", "rejected"], ["messages"], ["instruction", "output"],
                     ["prompt"], ["conversations"]]).flatmap(lambda h: st.lists(st.sampled_from(["notes", "id", "", "prompt "]),
                                                                             max_size=2, unique=True).map(lambda x: h + x)),
    st.lists(st.sampled_from(FIELDS) | st.text(max_size=6), max_size=4),
)
csv_table = st.builds(_table, header, st.lists(st.one_of(words, words, csv_cell), min_size=3, max_size=15), st.booleans())


@SETTINGS
@given(table=csv_table, raw_tail=st.one_of(st.just(""), st.text(max_size=30)), tsv=st.booleans())
def test_csv_imports_cleanly_or_fails_clearly(studio, tmp_path, table, raw_tail, tsv):
    """CSV of any shape (ragged rows included), and CSV with a raw, possibly broken tail."""
    body = _csv_text(*table) + raw_tail
    path = tmp_path / ("data.tsv" if tsv else "data.csv")
    path.write_text(body, encoding="utf-8", errors="surrogatepass")
    check_import(studio, path)


@SETTINGS
@given(rows=st.one_of(rows_of_one_kind, st.lists(record.filter(lambda r: isinstance(r, dict) and r), min_size=1, max_size=5)))
def test_parquet_imports_cleanly_or_fails_clearly(studio, tmp_path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    assume(all(isinstance(r, dict) for r in rows))  # a Parquet row is a record
    try:
        table = pa.Table.from_pylist(rows)
        path = tmp_path / "data.parquet"
        pq.write_table(table, path)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        assume(False)  # pyarrow cannot hold these mixed types: no such file can exist
    check_import(studio, path)


@SETTINGS
@given(raw=st.binary(max_size=200), suffix=st.sampled_from([".parquet", ".csv", ".json", ".jsonl"]))
def test_random_bytes_under_any_extension_fail_clearly_or_import(studio, tmp_path, raw, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(raw)
    check_import(studio, path)
