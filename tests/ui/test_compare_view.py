"""The Compare view: two panes stream at once, a vote becomes a preference row, blind mode
hides which pane is which until the vote."""

from __future__ import annotations

from studio.chat import ChatService
from studio.datasets.rows import iter_rows, resolve_version
from tests.helpers.openai_stub import StubServer, continue_thought
from ui.compare_view import CompareView


def _script(prompt: str) -> str:
    rest = continue_thought(prompt, "Let me add: 2 + 2 = 4.</think>")
    if rest is not None:
        return rest
    return "4<|im_end|>" if "</think>" in prompt else "Four, I think.<|im_end|>"


def _make(qtbot, studio, url):
    chat = ChatService(studio)
    view = CompareView(studio, chat)
    qtbot.addWidget(view)
    view.resize(1100, 650)
    view.show()
    for pane in (view.pane_a, view.pane_b):
        pane.model.addItem(url, url)
        pane.model.setCurrentIndex(pane.model.count() - 1)
    return view, chat


def test_compare_streams_both_panes_and_a_vote_becomes_a_preference_row(qtbot, studio):
    with StubServer(_script, delay_s=0.002) as srv:
        view, chat = _make(qtbot, studio, srv.url)
        view.pane_a.mode.setCurrentIndex(0)  # fast
        view.pane_b.mode.setCurrentIndex(1)  # reasoning
        view.dataset.setCurrentText("my-prefs")
        assert not view.vote_buttons["a"].isEnabled()
        view.prompt.setPlainText("What is 2 + 2?")
        view.run_button.click()
        assert view.running
        qtbot.waitUntil(lambda: not view.running and view.vote_buttons["b"].isEnabled(), timeout=20000)
    a, b = view.pane_a.result, view.pane_b.result
    assert a["answer"] == "Four, I think." and a["stats"]["hidden_tokens"] == 0
    assert b["answer"] == "4" and b["thinking"].startswith("Let me add") and b["stats"]["hidden_tokens"] > 0
    assert "hidden tokens" in view.pane_b.bubble.stats.text()
    assert view.pane_b.bubble.thinking.toggle.text().startswith("Thought for")
    view.vote_buttons["b"].click()
    v = resolve_version(studio.db, "my-prefs")
    assert list(iter_rows(studio.db, v.id)) == [{"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "Four, I think."}]
    assert "Saved to my-prefs" in view.status.text()
    assert not view.vote_buttons["a"].isEnabled()  # one vote per run
    chat.close()


def test_blind_mode_hides_the_configurations_until_the_vote(qtbot, studio):
    with StubServer(_script) as srv:
        view, chat = _make(qtbot, studio, srv.url)
        view.pane_a.mode.setCurrentIndex(0)
        view.pane_b.mode.setCurrentIndex(1)
        view.blind.setChecked(True)
        view.run("What is 2 + 2?")
        assert view.pane_a.title.text() == "<b>A</b>" and view.pane_b.title.text() == "<b>B</b>"
        assert not view.pane_a.config_row.isVisibleTo(view)
        qtbot.waitUntil(lambda: not view.running and view.vote_buttons["tie"].isEnabled(), timeout=20000)
    assert {view._assignment["a"]["mode"], view._assignment["b"]["mode"]} == {"fast", "reasoning"}
    out = view.vote("tie")
    assert out["saved"] is False
    assert "Reasoning" in view.pane_a.title.text() + view.pane_b.title.text()  # revealed
    assert "A was" in view.status.text()
    chat.close()


def test_score_button_waits_for_both_answers(qtbot, studio):
    view = CompareView(studio, ChatService(studio))
    qtbot.addWidget(view)
    assert view.score_button.isVisibleTo(view)
    assert not view.score_button.isEnabled()  # nothing to score before both answers
