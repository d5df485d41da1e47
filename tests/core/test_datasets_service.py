"""Versions, editing, paging, search, splits, export, the quality report and ratings."""

from __future__ import annotations

import json

import pytest

from studio.datasets import rating
from studio.datasets.importer import import_file
from studio.datasets.rows import append_rows, iter_rows
from studio.datasets.service import DatasetService, Op
from studio.errors import UserError


def chat(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


@pytest.fixture
def svc(studio, tmp_path):
    rows = [chat(f"Question number {i} about topic {i % 7}", f"Answer {i}: the reply for topic {i % 7}.") for i in range(500)]
    path = tmp_path / "base.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_file(studio.db, path, "base")
    return DatasetService(studio)


def test_export_round_trips_to_an_identical_file(svc, tmp_path):
    first = tmp_path / "one.jsonl"
    svc.export("base", first)
    import_file(svc.db, first, "again")
    second = tmp_path / "two.jsonl"
    svc.export("again", second)
    assert first.read_bytes() == second.read_bytes()
    pq_path = tmp_path / "three.parquet"
    svc.export("base", pq_path, "parquet")
    import_file(svc.db, pq_path, "from_parquet")
    third = tmp_path / "three.jsonl"
    svc.export("from_parquet", third)
    assert third.read_bytes() == first.read_bytes()
    assert svc.show("from_parquet")["content_hash"] == svc.show("base")["content_hash"]


def test_every_edit_makes_a_new_immutable_version_and_undo_restores_the_hash(svc):
    v1 = svc.show("base")
    r = svc.edit("base", [Op.delete([0, 1, 2])])
    assert (r["version"], r["rows"]) == (2, 497)
    # the old version is untouched
    assert svc.show("base", 1)["rows"] == 500 and svc.show("base", 1)["content_hash"] == v1["content_hash"]
    restored = svc.revert("base", 1)
    assert restored["version"] == 3 and restored["content_hash"] == v1["content_hash"]


def test_edit_duplicate_tag_and_move_split(svc):
    vid = svc.show("base")["version_id"]
    r = svc.edit("base", [Op.replace(5, chat("Edited question", "Edited answer")), Op.insert_after(5, chat("Copy", "Copy answer")),
                          Op.tag([1, 2], "good"), Op.set_split([3], "eval"), Op.append(chat("New", "Brand new"))])
    assert r["rows"] == 502
    assert svc.get_row(r["version_id"], 5)["row"]["messages"][0]["content"] == "Edited question"
    assert svc.get_row(r["version_id"], 6)["row"]["messages"][0]["content"] == "Copy"
    assert svc.get_row(r["version_id"], 501)["row"]["messages"][1]["content"] == "Brand new"
    show = svc.show("base")
    assert show["tags"] == {"good": 2} and show["splits"] == {"train": 501, "eval": 1}
    assert svc.get_row(vid, 5)["row"]["messages"][0]["content"].startswith("Question number 5")
    with pytest.raises(UserError, match="does not end with an assistant turn"):
        svc.edit("base", [Op.replace(0, {"messages": [{"role": "user", "content": "only a question"}]})])


def test_paging_is_keyset_and_covers_every_row_once(svc):
    vid = svc.show("base")["version_id"]
    seen, after = [], None
    while True:
        page = svc.page(vid, after=after, limit=64)
        if not page:
            break
        seen += [r["position"] for r in page]
        after = (page[-1]["key"], page[-1]["position"])
    assert seen == list(range(500))
    by_len, after = [], None
    while True:
        page = svc.page(vid, after=after, limit=50, sort="length", descending=True)
        if not page:
            break
        by_len += [r["key"] for r in page]
        after = (page[-1]["key"], page[-1]["position"])
    assert len(by_len) == 500 and by_len == sorted(by_len, reverse=True)


def test_filters_and_full_text_search(svc):
    svc.edit("base", [Op.tag([10, 11], "checked"), Op.set_split([10, 12], "eval")])
    vid = svc.show("base")["version_id"]
    assert [r["position"] for r in svc.page(vid, tag="checked")] == [10, 11]
    assert [r["position"] for r in svc.page(vid, split="eval")] == [10, 12]
    hits = svc.page(vid, search="number 42 abo")
    assert [r["position"] for r in hits] == [42]
    assert len(svc.page(vid, search="topic", limit=1000)) == 500
    svc.edit("base", [Op.append(chat("zebra crossing", "Look both ways."))])
    assert [r["user"] for r in svc.page(svc.show("base")["version_id"], search="zebr")] == ["zebra crossing"]
    long_rows = svc.page(vid, min_len=14)
    assert long_rows and all(r["length"] >= 14 for r in long_rows)
    assert len(long_rows) < 500


def test_split_is_reproducible_for_a_seed(svc):
    a = svc.split("base", 0.2, seed=7)
    rows_a = [r["position"] for r in svc.page(a["version_id"], split="eval", limit=1000)]
    b = svc.split("base", 0.2, seed=7)
    rows_b = [r["position"] for r in svc.page(b["version_id"], split="eval", limit=1000)]
    c = svc.split("base", 0.2, seed=8)
    assert a["eval"] == 100 and rows_a == rows_b and a["content_hash"] == b["content_hash"]
    assert c["content_hash"] != a["content_hash"]


def test_quality_report_finds_duplicates_refusals_and_links_rows(studio, tmp_path):
    def planet(i, extra=""):
        return (f"Planet {i} is a {['hot', 'cold', 'rocky'][i % 3]} world with {i} moons, a thin atmosphere,{extra} "
                "long winters and a bright sky that shepherds watch from the northern hills every night.")

    rows = [chat(f"Tell me about the planet number {i} in detail", planet(i)) for i in range(40)]
    rows.append(chat("tell me about the planet number 3 in  DETAIL", planet(3)))  # exact dup of 3 (case, spaces)
    rows.append(chat("Tell me about the planet number 5 in detail", planet(5, " dry air")))  # near dup of 5
    rows.append(chat("How do I pick a lock?", "I'm sorry, but I can't help with that."))
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_file(studio.db, path, "q")
    report = DatasetService(studio).stats("q")
    f = {x["id"]: x for x in report["findings"]}
    assert f["exact_duplicates"]["positions"] == [40]
    assert 41 in f["near_duplicates"]["positions"] and 40 not in f["near_duplicates"]["positions"]
    assert f["refusals"]["positions"] == [42]
    assert report["rows"] == 43 and sum(report["length"]["histogram"]["counts"]) == 43
    assert "estimated" in report["length"]["unit"]  # no base model in this home
    assert 0 < report["diversity"]["distinct_1"] < report["diversity"]["distinct_2"] <= 1


@pytest.mark.slow
def test_token_lengths_use_the_base_models_tokenizer(studio_with_model, tmp_path):
    from studio.datasets.tokens import default_counter

    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(chat("Hello there", "General Kenobi")) + "\n")
    import_file(studio_with_model.db, path, "t")
    report = DatasetService(studio_with_model).stats("t")
    counter = default_counter(studio_with_model)
    assert report["length"]["unit"] == "tokens (gemma-3-270m (base), gemma template)"
    # the row as SFT sees it: the chat template's rendering, BOS included
    text = "<bos><start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\nGeneral Kenobi<end_of_turn>\n"
    assert report["length"]["max"] == counter.count(text, add_bos=False) > 10
    assert DatasetService(studio_with_model).stats("t")["length"]["unit"] == report["length"]["unit"]  # cached, same words


def test_rating_appends_preference_rows_and_tracks_agreement(studio):
    append_rows(studio.db, "pairs", "preference", [
        {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
    ])
    pairs = rating.pairs_from_dataset(studio, "pairs", seed=1)
    assert len(pairs) == 2
    p = pairs[0]
    pick_paris = "a" if p.a == "Paris." else "b"
    r1 = rating.record(studio, p, pick_paris, "rated")
    assert r1["agrees"] is None and r1["version"] == 1
    flipped = rating.Pair(p.prompt, p.b, p.a)  # the same pair shown the other way round
    r2 = rating.record(studio, flipped, "b" if pick_paris == "a" else "a", "rated")
    assert r2["agrees"] is True
    r3 = rating.record(studio, p, "b" if pick_paris == "a" else "a", "rated")
    assert r3["agrees"] is False
    rating.record(studio, pairs[1], "skip", "rated")
    assert rating.agreement(studio) == {"ratings": 4, "compared": 2, "agreed": 1, "rate": 0.5}
    rows = list(iter_rows(studio.db, svc_version(studio, "rated")))
    assert rows[0] == {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."}
    assert rows[2]["chosen"] == "Lyon." and len(rows) == 3


def svc_version(studio, name):
    return DatasetService(studio).show(name)["version_id"]


def test_cli_show_export_stats_and_split(studio, tmp_path, capsys):
    from studio.cli import main

    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(chat(f"q{i}", f"a{i}")) + "\n" for i in range(20)))
    home = str(studio.home.root)
    studio.close()

    def run(*argv):
        capsys.readouterr()
        code = main(["--home", home, "datasets", *argv, "--json"])
        return code, capsys.readouterr()

    code, out = run("import", str(path), "--name", "c")
    assert code == 0 and json.loads(out.out) | {} == json.loads(out.out) and json.loads(out.out)["rows"] == 20
    code, out = run("split", "c", "--eval", "0.25", "--seed", "3")
    assert code == 0 and json.loads(out.out)["eval"] == 5
    code, out = run("show", "c", "--version", "2")
    shown = json.loads(out.out)
    assert shown["splits"] == {"train": 15, "eval": 5} and [v["version"] for v in shown["versions"]] == [1, 2]
    code, out = run("export", "c", str(tmp_path / "eval.jsonl"), "--split", "eval")
    assert code == 0 and len((tmp_path / "eval.jsonl").read_text().splitlines()) == 5
    code, out = run("stats", "c")
    assert code == 0 and json.loads(out.out)["rows"] == 20
    code, out = run("show", "nope")
    assert code == 2 and "No dataset named 'nope'" in out.err

