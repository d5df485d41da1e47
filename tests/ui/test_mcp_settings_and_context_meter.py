"""The MCP tool settings (a real SDK server added through the dialog), the confirmation a
non-read-only tool asks for, and the chat's context meter over real turns of gemma-3-270m."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.ui.shots import SHOTS  # a temp folder unless `make screenshots`

SERVER = Path(__file__).resolve().parents[1] / "mcp_servers" / "units_server.py"


def test_the_mcp_settings_add_a_real_server_and_show_which_tools_ask_first(studio, qtbot, tmp_path):
    from ui.mcp_settings import McpSettingsDialog

    dlg = McpSettingsDialog(studio)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.tree.topLevelItemCount() == 0 and "No MCP servers yet" in dlg.status.text()
    dlg.name_edit.setText("units")
    dlg.target_edit.setText(f"{sys.executable} {SERVER}")
    dlg.env_edit.setPlainText(f"NOTES_FILE={tmp_path / 'notes.txt'}")
    dlg.examples_edit.setPlainText("to_miles=how many miles is 42 km\nto_miles=convert 10 km to miles\n"
                                   "save_note=save a note that I parked on level 3\nsave_note=add to my notes: pay rent")
    dlg.add_button.click()
    assert not dlg.add_button.isEnabled()  # connecting runs on a worker thread
    qtbot.waitUntil(lambda: dlg.tree.topLevelItemCount() == 1, timeout=60_000)
    top = dlg.tree.topLevelItem(0)
    tools = {top.child(i).text(0): top.child(i).text(1) for i in range(top.childCount())}
    assert tools == {"units.to_miles": "read-only", "units.save_note": "asks first", "units.broken": "read-only",
                     "units.sleep": "read-only"}
    assert "Added 4 tools from units" in dlg.status.text() and dlg.add_button.isEnabled()
    dlg.resize(780, 560)
    qtbot.wait(50)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert dlg.grab().save(str(SHOTS / "mcp_settings.png"))

    dlg.transport.setCurrentIndex(1)
    dlg.name_edit.setText("bad name!")
    dlg.target_edit.setText("http://127.0.0.1:9/mcp")
    dlg.add_button.click()
    assert "must be lower-case" in dlg.status.text()  # checked before anything connects


def test_a_tool_that_is_not_read_only_asks_on_the_gui_thread_while_the_worker_waits(qtbot, monkeypatch):
    from PySide6.QtWidgets import QWidget

    from ui.mcp_settings import ToolConfirmer

    host = QWidget()
    qtbot.addWidget(host)
    confirmer = ToolConfirmer(host)
    asked_on = []

    def answer(parent, title, text):
        asked_on.append(threading.current_thread() is threading.main_thread())
        return QMessageBox.StandardButton.Yes if "save_note" in text else QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", answer)
    results = {}

    def worker():
        results["save"] = confirmer.ask("units.save_note", {"text": "hi"}, "Save a note")
        results["delete"] = confirmer.ask("units.delete_all", {}, "Delete every note")

    t = threading.Thread(target=worker)
    t.start()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=10_000)
    t.join()
    assert results == {"save": True, "delete": False} and asked_on == [True, True]


@pytest.mark.slow
def test_the_chat_shows_its_context_use_and_says_what_it_left_out(studio_with_model, qtbot):
    from studio.chat import ChatService
    from ui.chat_page import ChatPage

    chat = ChatService(studio_with_model)
    # a 4,096-token window with 4,020 kept for the answer leaves 76 for the conversation
    conv = chat.create_conversation(settings={"max_tokens_fast": 4020, "temperature": 0.0})
    events: list[dict] = []
    texts = ["Tell me about the history of the old lighthouse on the northern cliffs of the island village.",
             "And what about the keeper who lived there with his two dogs during the long winter storms?",
             "Did the village ever build a second lighthouse on the southern rocks after the shipwreck?"]
    try:
        for text in texts:
            n = [0]

            def stop():  # three tokens are enough: the test is about the prompt, not the answer
                return n[0] >= 3

            def on_event(ev):
                events.append(ev)
                n[0] += ev.get("type") == "answer"

            msg = chat.send(conv["id"], text, on_event=on_event, should_stop=stop)
    finally:
        chat.close()
    ctx = msg["meta"]["context"]
    assert ctx["limit"] == 4096 and ctx["reserve"] == 4020 and ctx["dropped"] >= 2
    assert ctx["prompt_tokens"] + ctx["reserve"] <= ctx["limit"]
    assert "Left out the oldest" in ctx["note"] and "Tell me about the history" in ctx["note"]
    assert [e for e in events if e["type"] == "context" and e["dropped"]]  # said during the turn, too

    page = ChatPage(studio_with_model)
    qtbot.addWidget(page)
    page.resize(1280, 720)
    page.show()
    page.open_conversation(conv["id"])
    meter = page.context_meter
    assert meter.warning.isVisible() and "Left out the oldest" in meter.warning.text()
    assert "Close to the context limit" in meter.warning.text()
    assert "of 4,096 tokens, 4,020 kept for the answer" in meter.label.text() and meter.bar.value() > 950
    qtbot.wait(100)
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert page.grab().save(str(SHOTS / "chat_context_meter.png"))
    page.new_conversation()
    assert not meter.warning.isVisible() and meter.label.text() == "Context: nothing used yet"
    page.shutdown()


def test_an_mcp_call_card_shows_the_tools_text(qtbot):
    from ui.tool_cards import ToolCallCard, result_text, short_outcome

    call = {"tool": "units.to_miles", "args": {"km": 42.0}, "ok": True, "error": None, "duration_s": 1.2,
            "result": {"text": "42 km = 26.10 miles", "structured": {"result": "42 km = 26.10 miles"}}}
    assert short_outcome(call) == "  → 42 km = 26.10 miles"
    assert result_text(call).startswith("42 km = 26.10 miles\n\n{")
    card = ToolCallCard(call)
    qtbot.addWidget(card)
    assert "units.to_miles" in card.title.text() and card.summary.text() == "km=42.0  → 42 km = 26.10 miles"
