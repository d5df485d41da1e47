"""Recipe runs resume per stage: a finished stage is kept while nothing it depends on changed
(`stage_key`), and a change redoes its stage and every later one, never an earlier one.

No job runs here: the state is written with `save_state` and read back through the real
settings table (SQLite), as `studio recipe run` and `studio recipe status` read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

STAGES = ["sft", "dpo", "grpo", "export", "register"]

RECIPE = """\
name: tiny
description: a five-stage recipe on a tiny curriculum
base: gemma-3-270m (base)
template: gemma
output_name: tiny assistant
curriculum_dir: {folder}
stages:
  - name: sft
    method: sft
    dataset: sft.jsonl
    config: {{learning_rate: 0.001, max_steps: 3}}
  - name: dpo
    method: dpo
    dataset: dpo.jsonl
    config: {{learning_rate: 0.0001, max_steps: 2}}
  - name: grpo
    method: grpo
    dataset: grpo.jsonl
    config: {{learning_rate: 0.00003, max_steps: 2}}
  - name: export
    kind: export
  - name: register
    kind: register
"""


def _rows(*rows: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def recipe_file(tmp_path) -> Path:
    """A recipe YAML and its curriculum folder (every file `curriculum_hash` reads) in tmp_path."""
    folder = tmp_path / "curriculum"
    folder.mkdir()
    (folder / "sft.jsonl").write_text(_rows({"messages": [{"role": "user", "content": "hi"},
                                                          {"role": "assistant", "content": "hello"}]}))
    (folder / "chat.jsonl").write_text(_rows({"messages": [{"role": "user", "content": "thanks"},
                                                           {"role": "assistant", "content": "you're welcome"}]}))
    (folder / "dpo.jsonl").write_text(_rows({"prompt": "hi", "chosen": "hello", "rejected": "go away"}))
    (folder / "grpo.jsonl").write_text(_rows({"prompt": "2+2?", "answer": "4"}))
    (folder / "heldout_suite.jsonl").write_text(_rows({"prompt": "3+3?", "answer": "6"}))
    path = tmp_path / "tiny.yaml"
    path.write_text(RECIPE.format(folder=folder), encoding="utf-8")
    return path


def _keys(recipe_file: Path, overrides: list[str] | None = None) -> list[str]:
    from studio.starter.recipe import load_recipe, stage_key

    recipe = load_recipe(str(recipe_file), overrides)
    return [stage_key(recipe, i) for i in range(len(recipe["stages"]))]


def _finished_state(recipe: dict) -> dict:
    """The state a finished run of `recipe` leaves: every stage succeeded, its key recorded."""
    from studio.starter.recipe import run_key, stage_keys

    return {"key": run_key(recipe), "recipe": recipe["name"], "started_at": 1.0,
            "stages": {st["name"]: {"job_id": i + 1, "state": "succeeded", "kind": st["kind"], "key": k}
                       for i, (st, k) in enumerate(zip(recipe["stages"], stage_keys(recipe)))}}


def test_stage_keys_are_per_stage_and_stable(recipe_file):
    from studio.starter.recipe import load_recipe, stage_key, stage_keys

    keys = _keys(recipe_file)
    assert len(set(keys)) == len(STAGES) and all(len(k) == 16 for k in keys)
    assert keys == _keys(recipe_file) == stage_keys(load_recipe(str(recipe_file)))
    with pytest.raises(IndexError):
        stage_key(load_recipe(str(recipe_file)), len(STAGES))


def test_changing_only_the_last_stage_config_changes_only_its_key(recipe_file):
    before = _keys(recipe_file)
    after = _keys(recipe_file, ["register.note=renamed"])
    assert after[:-1] == before[:-1]
    assert after[-1] != before[-1]


def test_changing_a_later_stage_keeps_the_earlier_keys(recipe_file):
    before = _keys(recipe_file)
    after = _keys(recipe_file, ["grpo.learning_rate=0.5"])
    assert after[:2] == before[:2]  # sft and dpo: the 27-minute stage is not redone for a GRPO rate
    assert all(a != b for a, b in zip(after[2:], before[2:]))


def test_stages_after_a_stage_do_not_enter_its_key(recipe_file):
    from studio.starter.recipe import load_recipe, stage_key

    full = _keys(recipe_file)
    short = load_recipe(str(recipe_file))
    short["stages"] = short["stages"][:2]
    assert [stage_key(short, 0), stage_key(short, 1)] == full[:2]


def test_changing_the_first_stage_dataset_changes_every_key(recipe_file):
    before = _keys(recipe_file)
    sft = recipe_file.parent / "curriculum" / "sft.jsonl"
    sft.write_text(sft.read_text() + _rows({"messages": [{"role": "user", "content": "bye"}]}))
    after = _keys(recipe_file)
    assert all(a != b for a, b in zip(after, before))


def test_changing_a_middle_stage_dataset_changes_it_and_the_later_keys_only(recipe_file):
    before = _keys(recipe_file)
    dpo = recipe_file.parent / "curriculum" / "dpo.jsonl"
    dpo.write_text(_rows({"prompt": "hi", "chosen": "hi there", "rejected": "no"}))
    after = _keys(recipe_file)
    assert after[0] == before[0]
    assert all(a != b for a, b in zip(after[1:], before[1:]))


def test_a_curriculum_file_no_stage_trains_on_changes_only_the_register_key(recipe_file):
    from studio.starter.recipe import load_recipe, run_key

    before, run_before = _keys(recipe_file), run_key(load_recipe(str(recipe_file)))
    (recipe_file.parent / "curriculum" / "heldout_suite.jsonl").write_text(_rows({"prompt": "4+4?", "answer": "8"}))
    after, run_after = _keys(recipe_file), run_key(load_recipe(str(recipe_file)))
    assert after[:-1] == before[:-1]  # nothing is retrained ...
    assert after[-1] != before[-1]  # ... but the lineage, which names the curriculum's hash, is written again
    assert run_after != run_before


def test_load_state_keeps_the_stages_before_the_first_change(studio, recipe_file):
    from studio.starter.recipe import load_recipe, load_state, run_key, save_state

    recipe = load_recipe(str(recipe_file))
    save_state(studio, recipe, _finished_state(recipe))
    assert set(load_state(studio, recipe)["stages"]) == set(STAGES)  # nothing changed: all kept

    changed = load_recipe(str(recipe_file), ["grpo.learning_rate=0.5"])
    state = load_state(studio, changed)
    assert set(state["stages"]) == {"sft", "dpo"}
    assert state["stages"]["sft"]["job_id"] == 1 and state["stages"]["dpo"]["job_id"] == 2
    assert state["key"] == run_key(changed) != run_key(recipe)  # the whole key still names the run
    assert state["started_at"] == 1.0  # the same run, continued


def test_load_state_after_a_dataset_change_drops_that_stage_and_all_after(studio, recipe_file):
    from studio.starter.recipe import load_recipe, load_state, save_state

    recipe = load_recipe(str(recipe_file))
    save_state(studio, recipe, _finished_state(recipe))
    (recipe_file.parent / "curriculum" / "dpo.jsonl").write_text(_rows({"prompt": "a", "chosen": "b", "rejected": "c"}))
    assert set(load_state(studio, load_recipe(str(recipe_file)))["stages"]) == {"sft"}


def test_a_stale_entry_before_a_matching_one_drops_both(studio, recipe_file):
    """Keys are prefixes, so this cannot arise from a real change, but a mismatch ends the kept run."""
    from studio.starter.recipe import load_recipe, load_state, save_state

    recipe = load_recipe(str(recipe_file))
    state = _finished_state(recipe)
    state["stages"]["dpo"]["key"] = "0" * 16
    save_state(studio, recipe, state)
    assert set(load_state(studio, recipe)["stages"]) == {"sft"}
    del state["stages"]["sft"]
    save_state(studio, recipe, state)
    assert load_state(studio, recipe)["stages"] == {}


def test_old_state_without_stage_keys_is_kept_when_the_whole_recipe_is_unchanged(studio, recipe_file):
    from studio.starter.recipe import load_recipe, load_state, save_state, stage_keys

    recipe = load_recipe(str(recipe_file))
    old = _finished_state(recipe)
    for info in old["stages"].values():
        del info["key"]
    save_state(studio, recipe, old)
    state = load_state(studio, recipe)
    assert set(state["stages"]) == set(STAGES)
    assert [state["stages"][n]["key"] for n in STAGES] == stage_keys(recipe)  # stamped


def test_old_state_without_stage_keys_is_dropped_when_the_recipe_changed(studio, recipe_file):
    from studio.starter.recipe import load_recipe, load_state, save_state

    recipe = load_recipe(str(recipe_file))
    old = _finished_state(recipe)
    for info in old["stages"].values():
        del info["key"]
    old["key"] = "0123456789abcdef"
    save_state(studio, recipe, old)
    state = load_state(studio, recipe)
    assert state["stages"] == {}
    assert state["started_at"] != 1.0  # a new run


def test_status_reports_what_is_kept(studio, recipe_file):
    from studio.starter.recipe import load_recipe, recipe_status, save_state

    recipe = load_recipe(str(recipe_file))
    save_state(studio, recipe, _finished_state(recipe))
    status = recipe_status(studio, str(recipe_file), ["grpo.learning_rate=0.5"])
    by_name = {s["name"]: s for s in status["stages"]}
    assert [by_name[n]["kept"] for n in STAGES] == [True, True, False, False, False]
    assert [by_name[n]["changed"] for n in STAGES] == [False, False, True, True, True]
    assert by_name["sft"]["state"] == "succeeded" and by_name["grpo"]["state"] == "pending"
    assert by_name["grpo"]["key"] == _keys(recipe_file, ["grpo.learning_rate=0.5"])[2]


def test_run_skips_the_kept_stages_as_done_in_an_earlier_run(studio, recipe_file):
    from studio.starter.recipe import load_recipe, load_state, run_recipe, save_state

    recipe = load_recipe(str(recipe_file))
    save_state(studio, recipe, _finished_state(recipe))
    events = []
    out = run_recipe(studio, str(recipe_file), until="dpo", overrides=["grpo.learning_rate=0.5"],
                     on_event=events.append)
    assert [(e["stage"], e["state"], e["detail"]) for e in events] == [
        ("sft", "skipped", "done in an earlier run"), ("dpo", "skipped", "done in an earlier run")]
    assert set(out["stages"]) == {"sft", "dpo"}
    # the dropped stages are gone from the saved state too
    changed = load_recipe(str(recipe_file), ["grpo.learning_rate=0.5"])
    assert set(load_state(studio, changed)["stages"]) == {"sft", "dpo"}
    assert set(load_state(studio, recipe)["stages"]) == {"sft", "dpo"}


def test_a_new_recipe_text_redoes_only_the_register_stage(recipe_file):
    """The lineage records the recipe's text: an edited comment re-registers (metadata only)."""
    before = _keys(recipe_file)
    recipe_file.write_text(recipe_file.read_text(encoding="utf-8") + "# a comment\n", encoding="utf-8")
    after = _keys(recipe_file)
    assert after[:-1] == before[:-1] and after[-1] != before[-1]
