"""The tools service: HTTP tool definitions, the knowledge base, classifier versions,
per-conversation switches and the decision log, over the real studio database."""

from __future__ import annotations

import pytest

from engines.tools.http_tool import HttpToolSpec
from studio.errors import NotFound, UserError
from studio.tools import available_tools
from studio.tools.service import tools_service


def weather(url="http://127.0.0.1:9/weather?city={city}", **kw):
    return HttpToolSpec(name="weather", description="Current weather for a city", url=url,
                        schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, **kw)


def test_available_tools_lists_builtins_and_http_tools_for_the_chat_toggle(studio):
    assert [t["name"] for t in available_tools(studio)] == ["calculator", "python", "search"]
    tools_service(studio).add_http(weather())
    tools = {t["name"]: t for t in available_tools(studio)}
    assert tools["weather"] == {"name": "weather", "description": "Current weather for a city", "kind": "http"}


def test_http_tool_definitions_survive_reopening_the_home(studio, tmp_path):
    from studio.core import open_studio

    tools_service(studio).add_http(weather(fields=["temp_c"]))
    again = open_studio(studio.home.root, ensure_default_model=False)
    try:
        spec = tools_service(again).http_specs()[0]
        assert (spec.name, spec.fields, spec.schema["required"]) == ("weather", ["temp_c"], ["city"])
    finally:
        again.close()


def test_http_tool_names_cannot_clash(studio):
    svc = tools_service(studio)
    svc.add_http(weather())
    with pytest.raises(UserError, match="already exists"):
        svc.add_http(weather())
    with pytest.raises(UserError, match="built-in"):
        svc.add_http(HttpToolSpec(name="python", description="x", url="http://127.0.0.1/x"))
    svc.remove_http("weather")
    with pytest.raises(NotFound):
        svc.remove_http("weather")


def test_http_tool_with_examples_retrains_the_router_to_reach_it(studio):
    svc = tools_service(studio)
    assert svc.classifier().predict("convert 20 dollars to euros").tool != "currency"
    out = svc.add_http(HttpToolSpec(
        name="currency", description="Exchange rates", url="http://127.0.0.1:9/fx",
        examples=["convert 10 usd to eur", "how many yen is 50 dollars", "exchange rate pound to euro",
                  "what is 100 swiss francs in dollars", "convert 5 euros to pounds", "dollar to peso rate"]))
    assert out["retrained"]["version"] == 2
    assert svc.classifier().predict("convert 20 dollars to euros", ["currency"]).tool == "currency"


def test_an_http_tool_without_examples_warns_that_nothing_routes_to_it(studio):
    out = tools_service(studio).add_http(HttpToolSpec(name="stocks", description="Share prices",
                                                      url="http://127.0.0.1:9/s"))
    assert "will not route" in out["warning"]


def test_kb_add_is_all_or_nothing(studio, tmp_path):
    good = tmp_path / "a.md"
    good.write_text("# Handbook\n\nLunch is served at noon.")
    bad = tmp_path / "b.docx"
    bad.write_bytes(b"PK")
    svc = tools_service(studio)
    with pytest.raises(UserError, match="Nothing was added.*b.docx"):
        svc.kb_add([str(good), str(bad)])
    assert svc.kb_search("lunch") == []
    svc.kb_add([str(good)])
    assert svc.kb_search("lunch")[0]["source"] == "a.md"
    assert (studio.home.kb / "kb.db").exists()


def test_training_makes_a_new_active_version_and_old_ones_can_come_back(studio, tmp_path):
    from engines.tools.intent import DEFAULT_DATASET

    svc = tools_service(studio)
    svc.classifier()
    assert [v["version"] for v in svc.classifier_versions()] == [1]
    small = tmp_path / "small.jsonl"
    small.write_text("".join(f'{{"query": "compute {i} * {i}", "tool": "calculator"}}\n'
                             f'{{"query": "hello number {i}", "tool": null}}\n' for i in range(6)))
    info = svc.train_intent(small)
    assert info["version"] == 2 and info["labels"] == ["calculator", "none"] and "cv_accuracy" in info
    assert svc.classifier().labels == ["calculator", "none"]
    svc.activate(1)
    assert "weather" in svc.classifier().labels
    assert svc.active_version()["source"] == str(DEFAULT_DATASET)
    with pytest.raises(UserError, match="small.jsonl:1"):
        small.write_text("{oops\n")
        svc.train_intent(small)


def test_enabled_tools_live_in_the_conversation_settings(studio):
    from studio.db.models import Conversation

    with studio.db.session() as s:
        conv = Conversation(title="t", settings={"temperature": 0.2})
        s.add(conv)
        s.flush()
        cid = conv.id
    svc = tools_service(studio)
    assert svc.enabled_tools(cid) == []  # tools are opt-in per conversation
    svc.set_enabled_tools(cid, ["calculator"])
    assert svc.enabled_tools(cid) == ["calculator"]
    with studio.db.session() as s:
        assert s.get(Conversation, cid).settings == {"temperature": 0.2, "tools": ["calculator"]}
    with pytest.raises(UserError, match="Unknown tool"):
        svc.set_enabled_tools(cid, ["teleport"])
