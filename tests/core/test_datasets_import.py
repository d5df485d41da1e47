"""Import and strict validation: every problem is named FILE:LINE and nothing is stored."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc

import pytest

from studio.datasets.importer import ImportProblems, import_file
from studio.datasets.service import DatasetService
from studio.errors import UserError

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}

GOOD_PREF = {"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def stored(studio) -> tuple[int, int, int]:
    with studio.db.engine.connect() as c:
        return tuple(c.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in ("datasets", "examples", "version_rows"))


def turns(*pairs):
    return {"messages": [{"role": r, "content": c} for r, c in pairs]}


BAD_ROWS = {
    "missing_fields": ({"question": "Hi", "reply": "Hello"}, "unrecognised row (fields: question, reply)"),
    "alpaca_without_output": ({"instruction": "Say hi"}, "missing field 'output'"),
    "unknown_role": (turns(("user", "Hi"), ("bot", "Hello")), "unknown role 'bot'"),
    "non_string_content": ({"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "x"}]},
                           "content must be a string, got int"),
    "empty_turn": (turns(("user", "   "), ("assistant", "Hello")), "turn 1 (user) is empty"),
    "no_assistant_end": (turns(("user", "Hi"), ("assistant", "Hello"), ("user", "Bye")), "does not end with an assistant turn"),
    "chosen_is_rejected": ({"prompt": "Hi", "chosen": "Hello", "rejected": "Hello"}, "chosen is identical to rejected"),
    "sharegpt_unknown_from": ({"conversations": [{"from": "alien", "value": "x"}]}, "unknown role 'alien'"),
    "invalid_json": ('{"messages": [', "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_each_validation_error_names_file_and_line_and_stores_nothing(studio, tmp_path, case):
    bad, expected = BAD_ROWS[case]
    good = GOOD_PREF if "chosen" in str(bad) else GOOD
    path = write_jsonl(tmp_path / f"{case}.jsonl", [good, good, bad, good])
    with pytest.raises(ImportProblems) as e:
        import_file(studio.db, path, "d")
    assert f"{case}.jsonl:3: " in e.value.message
    assert expected in e.value.message
    assert stored(studio) == (0, 0, 0)


def test_mixed_kinds_in_one_file_is_refused(studio, tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [GOOD, {"prompt": "Hi", "chosen": "a", "rejected": "b"}])
    with pytest.raises(ImportProblems) as e:
        import_file(studio.db, path, "d")
    assert "mixed.jsonl:2: this row is a preference example but line 1 is sft (mixed kinds" in e.value.message
    assert stored(studio) == (0, 0, 0)


def test_wrong_encoding_is_named(studio, tmp_path):
    path = tmp_path / "latin1.jsonl"
    latin1 = json.dumps(turns(("user", "café"), ("assistant", "oui")), ensure_ascii=False).encode("latin-1")
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + latin1 + b"\n")
    with pytest.raises(ImportProblems) as e:
        import_file(studio.db, path, "d")
    assert "latin1.jsonl:2: undecodable bytes" in e.value.message
    utf16 = tmp_path / "utf16.jsonl"
    utf16.write_bytes(json.dumps(GOOD).encode("utf-16"))
    with pytest.raises(ImportProblems, match="UTF-16"):
        import_file(studio.db, utf16, "d")
    assert stored(studio) == (0, 0, 0)


def test_binary_file_is_refused_quickly(studio, tmp_path):
    path = tmp_path / "weights.jsonl"
    path.write_bytes(bytes(range(256)) * 4000)
    with pytest.raises(ImportProblems, match="binary file"):
        import_file(studio.db, path, "d")
    assert stored(studio) == (0, 0, 0)


def test_a_30_mb_single_line_is_reported_without_holding_it(studio, tmp_path):
    path = tmp_path / "huge.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps(GOOD) + "\n")
        f.write('{"messages": [{"role": "user", "content": "' + "x" * (30 * 1024 * 1024) + '"}]}\n')
        f.write(json.dumps(GOOD) + "\n")
    tracemalloc.start()
    with pytest.raises(ImportProblems) as e:
        import_file(studio.db, path, "d")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "huge.jsonl:2: line is over the size limit" in e.value.message
    assert e.value.total == 1  # the line after the long one is read normally
    assert peak < 20 * 1024 * 1024  # the 30 MB line was never held whole
    assert stored(studio) == (0, 0, 0)


def test_only_first_20_problems_are_listed_then_a_count(studio, tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", [GOOD] + [turns(("user", "Hi"))] * 30)
    with pytest.raises(ImportProblems) as e:
        import_file(studio.db, path, "d")
    assert e.value.total == 30 and len(e.value.problems) == 20
    assert "many.jsonl:21:" in e.value.message and "many.jsonl:22:" not in e.value.message
    assert "and 10 more problems" in e.value.message


def test_import_is_all_or_nothing_even_after_many_good_batches(studio, tmp_path):
    rows = [turns(("user", f"q{i}"), ("assistant", f"a{i}")) for i in range(45_000)] + ['{"broken']
    path = write_jsonl(tmp_path / "late.jsonl", rows)
    with pytest.raises(ImportProblems, match="late.jsonl:45001:"):
        import_file(studio.db, path, "d")
    assert stored(studio) == (0, 0, 0)


def test_community_shapes_map_to_trl_formats(studio, tmp_path):
    rows = [
        {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}], "id": 7},
        {"instruction": "Add", "input": "2+2", "output": "4"},
    ]
    path = write_jsonl(tmp_path / "community.jsonl", rows)
    r = import_file(studio.db, path, "c")
    assert (r.kind, r.rows) == ("sft", 2)
    assert "sharegpt" in r.mapping["shape"] and "alpaca" in r.mapping["shape"]
    assert r.mapping["ignored"] == ["id"]
    out = DatasetService(studio).get_row(r.version_id, 0)["row"]
    assert out["messages"][0] == {"role": "system", "content": "Be brief."}
    assert DatasetService(studio).get_row(r.version_id, 1)["row"]["messages"][0]["content"] == "Add\n\n2+2"


def test_kind_is_detected_and_can_be_forced(studio, tmp_path):
    pref = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}])
    assert import_file(studio.db, pref, "p").kind == "preference"
    pc = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "2+2?", "completion": "4"}])
    assert import_file(studio.db, pc, "pc").kind == "sft"
    r = import_file(studio.db, write_jsonl(tmp_path / "q.jsonl", [{"prompt": "2+2?", "answer": "4"}]), "q")
    assert r.kind == "prompt"
    with pytest.raises(ImportProblems, match="p2.jsonl:1: this row is a preference example"):
        import_file(studio.db, write_jsonl(tmp_path / "p2.jsonl", [{"prompt": "a", "chosen": "b", "rejected": "c"}]), "x", "sft")


def test_json_csv_parquet_and_hf_folder_import_alike(studio, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"prompt": f"Q{i}", "completion": f"A{i}"} for i in range(5)]
    (tmp_path / "a.json").write_text(json.dumps(rows, indent=2))
    (tmp_path / "a.csv").write_text("prompt,completion\n" + "".join(f'"Q{i}","A{i}"\n' for i in range(5)))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_list(rows[:4]), "test": Dataset.from_list(rows[4:])}).save_to_disk(str(tmp_path / "hf"))
    hashes = set()
    for i, p in enumerate(["a.json", "a.csv", "a.parquet", "hf"]):
        r = import_file(studio.db, tmp_path / p, f"d{i}")
        assert (r.kind, r.rows) == ("sft", 5), p
        if p != "hf":
            hashes.add(r.content_hash)
    assert len(hashes) == 1  # the same rows give the same version hash whatever the format
    assert DatasetService(studio).show("d3")["splits"] == {"train": 4, "eval": 1}


def test_json_array_problem_reports_the_element_line(studio, tmp_path):
    path = tmp_path / "arr.json"
    path.write_text('[\n  {"prompt": "a", "completion": "b"},\n  {"prompt": "a", "completion": 5}\n]\n')
    with pytest.raises(ImportProblems, match=r"arr.json:3: 'completion' must be a string"):
        import_file(studio.db, path, "d")
    assert stored(studio) == (0, 0, 0)


def test_cli_import_prints_json_and_exits_2_on_bad_input(studio, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [GOOD])
    bad = write_jsonl(tmp_path / "bad.jsonl", [turns(("user", "Hi"))])
    home = str(studio.home.root)
    studio.close()
    env_cmd = [sys.executable, "-m", "studio", "--home", home, "datasets", "import"]
    from studio.cli import main

    assert main(["--home", home, "datasets", "import", str(good), "--name", "g", "--json"]) == 0
    p = subprocess.run(env_cmd + [str(bad), "--name", "b", "--json"], capture_output=True, text=True)
    assert p.returncode == 2
    assert "bad.jsonl:1: messages does not end with an assistant turn" in p.stderr
    assert main(["--home", home, "datasets", "list", "--json"]) == 0


def test_csv_cells_hold_text_or_json_turns(studio, tmp_path):
    import csv

    path = tmp_path / "pairs.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "chosen", "rejected"])
        w.writerow(["[INST] Say hi [/INST]", "Hi!", "Go away."])
        w.writerow(["Hello", json.dumps([{"role": "assistant", "content": "Hi"}]), json.dumps([{"role": "assistant", "content": "No"}])])
    r = import_file(studio.db, path, "p")
    assert (r.kind, r.rows) == ("preference", 2)
    rows = [DatasetService(studio).get_row(r.version_id, i)["row"] for i in range(2)]
    assert rows[0]["prompt"] == "[INST] Say hi [/INST]"
    assert rows[1]["chosen"] == [{"role": "assistant", "content": "Hi"}]
    bad = tmp_path / "bad.csv"
    bad.write_text('messages\n"[{""role"": ""user"""\n')
    with pytest.raises(ImportProblems, match=r"bad.csv:2: column 'messages' holds invalid JSON"):
        import_file(studio.db, bad, "b")


def test_append_makes_a_new_version_and_examples_are_shared(studio, tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl", [turns(("user", f"q{i}"), ("assistant", f"a{i}")) for i in range(3)])
    more = write_jsonl(tmp_path / "b.jsonl", [turns(("user", "q1"), ("assistant", "a1")), turns(("user", "new"), ("assistant", "row"))])
    import_file(studio.db, first, "d")
    with pytest.raises(UserError, match="already exists"):
        import_file(studio.db, more, "d")
    r = import_file(studio.db, more, "d", append=True)
    assert (r.version, r.rows) == (2, 5)
    assert stored(studio) == (1, 4, 8)  # 4 distinct examples; version rows 3 + 5
    show = DatasetService(studio).show("d")
    assert [v["rows"] for v in show["versions"]] == [3, 5] and show["versions"][1]["parent_version_id"] == show["versions"][0]["id"]
    with pytest.raises(UserError, match="holds sft rows, not preference"):
        import_file(studio.db, write_jsonl(tmp_path / "p.jsonl", [GOOD_PREF]), "d", "preference", append=True)


def test_csv_with_an_unterminated_quote_exits_2_naming_its_line_and_stores_nothing(studio, tmp_path):
    """The issue's file: before strict parsing it became one `prompt` row holding the next line."""
    bad = tmp_path / "quote.csv"
    bad.write_text('prompt,completion\n"unterminated,quote\nok,fine\n', encoding="utf-8")
    home = str(studio.home.root)
    p = subprocess.run([sys.executable, "-m", "studio", "--home", home, "datasets", "import", str(bad), "--name", "q", "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and p.stdout == ""
    assert "quote.csv:2: a quoted cell starts on this line and its quote is never closed" in p.stderr
    assert stored(studio) == (0, 0, 0)


def test_csv_rows_need_the_header_s_column_count(studio, tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text('prompt,completion\n"two\nlines",fine\n\nshort\nok,fine\na,b,extra\n', encoding="utf-8")
    with pytest.raises(ImportProblems) as e:
        import_file(studio.db, path, "c")
    assert e.value.problems == [
        "cells.csv:5: has 1 cell, but the header has 2 columns (a missing or extra delimiter, or a quote in the wrong place?)",
        "cells.csv:7: has 3 cells, but the header has 2 columns (a missing or extra delimiter, or a quote in the wrong place?)",
    ]  # the quoted newline (lines 2-3) and the blank line 4 are fine; lines count from the file
    assert stored(studio) == (0, 0, 0)
    dup = tmp_path / "dup.csv"
    dup.write_text("prompt,prompt\na,b\n", encoding="utf-8")
    with pytest.raises(ImportProblems, match=r"dup.csv:1: the header names the column 'prompt' twice"):
        import_file(studio.db, dup, "d")


def test_columns_the_mapping_ignores_are_reported_in_the_result_the_cli_and_the_version(studio, tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("prompt,completion,notes,\nhi,hello,internal,\n", encoding="utf-8")
    svc = DatasetService(studio)
    assert svc.preview(path)["ignored_columns"] == ["(column 4, no name)", "notes"]
    r = import_file(studio.db, path, "e")
    assert r.rows == 1 and r.ignored_columns == ["(column 4, no name)", "notes"]
    assert r.to_dict()["ignored_columns"] == r.ignored_columns
    with studio.db.engine.connect() as c:
        meta = json.loads(c.exec_driver_sql("SELECT meta FROM dataset_versions").scalar())
    assert meta["ignored_columns"] == ["(column 4, no name)", "notes"]
    p = subprocess.run([sys.executable, "-m", "studio", "--home", str(studio.home.root), "datasets", "import", str(path),
                        "--name", "e2", "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["ignored_columns"] == ["(column 4, no name)", "notes"]
    clean = write_jsonl(tmp_path / "clean.jsonl", [GOOD])
    assert import_file(studio.db, clean, "c").ignored_columns == []
