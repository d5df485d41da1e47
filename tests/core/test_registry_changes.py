"""The registry publishes added / removed / renamed changes, including other processes' writes."""

from __future__ import annotations

from studio.db import Model
from studio.models.registry import Registry


def _lora(name: str) -> Model:
    return Model(name=name, kind="adapter", format="gguf-lora", path=f"/nowhere/{name}.gguf", meta={})


def test_changes_made_here_are_published_at_once(studio):
    seen: list[list[dict]] = []
    studio.registry.subscribe(seen.append)
    m = studio.registry.add(_lora("bot"))
    studio.registry.rename(m.id, "support bot")
    studio.registry.delete(m.id)
    assert [[(c["change"], c["name"]) for c in batch] for batch in seen] == [
        [("added", "bot")], [("renamed", "support bot")], [("removed", "support bot")]]
    assert seen[1][0]["old_name"] == "bot"


def test_another_process_write_is_found_by_poll(studio):
    seen: list[list[dict]] = []
    unsubscribe = studio.registry.subscribe(seen.append)
    Registry(studio.db, studio.home).add(_lora("from the job runner"))  # a finisher's own Registry
    assert seen == []
    assert [c["change"] for c in studio.registry.poll()] == ["added"]
    assert seen[0][0]["name"] == "from the job runner" and seen[0][0]["format"] == "gguf-lora"
    assert studio.registry.poll() == []  # reported once
    unsubscribe()
    Registry(studio.db, studio.home).delete("from the job runner")
    studio.registry.poll()
    assert len(seen) == 1
