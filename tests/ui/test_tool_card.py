"""ToolCallCard: collapsed to one line, expandable to arguments, result, error and time."""

from __future__ import annotations


from ui.tool_cards import ToolCallCard

from tests.ui.shots import SHOTS  # a temp folder unless `make screenshots`

CALC = {"tool": "calculator", "args": {"expression": "17.5% of 2,340"}, "ok": True,
        "result": {"expression": "(17.5/100)* 2340", "result": "409.5"}, "error": None,
        "duration_s": 0.0021, "confidence": 0.93}
FAILED = {"tool": "weather", "args": {"city": "Atlantis"}, "ok": False, "result": None,
          "error": "weather: http://127.0.0.1:8000/weather?city=Atlantis answered HTTP 404 Not Found",
          "duration_s": 0.012, "confidence": 0.9}
SEARCH = {"tool": "search", "args": {"query": "remote work"}, "ok": True, "error": None, "duration_s": 0.004,
          "confidence": 0.88, "result": {"query": "remote work", "hits": [
              {"source": "handbook.md", "title": "Handbook", "position": 0, "score": 1.5,
               "snippet": "Staff may work [remotely] up to three days", "text": "..."}]}}


def test_card_starts_collapsed_with_tool_arguments_outcome_and_time(qtbot):
    card = ToolCallCard(CALC)
    qtbot.addWidget(card)
    assert not card.is_expanded()
    assert "calculator" in card.title.text() and "✓" in card.title.text()
    assert card.summary.text() == 'expression="17.5% of 2,340"  → 409.5'
    assert card.meta.text() == "0.00 s · confidence 93%"


def test_expanding_shows_arguments_and_result(qtbot):
    card = ToolCallCard(CALC)
    qtbot.addWidget(card)
    card.show()
    with qtbot.waitSignal(card.toggled):
        card.toggle.click()
    assert card.is_expanded()
    assert '"expression": "17.5% of 2,340"' in card.args_view.toPlainText()
    assert card.result_view.toPlainText() == "(17.5/100)* 2340 = 409.5"


def test_a_failed_call_shows_its_error(qtbot):
    card = ToolCallCard(FAILED, expanded=True)
    qtbot.addWidget(card)
    assert "failed" in card.title.text()
    assert "HTTP 404" in card.error_label.text()
    assert not hasattr(card, "result_view")


def test_search_card_lists_sources_for_citation(qtbot, tmp_path):
    card = ToolCallCard(SEARCH, expanded=True)
    qtbot.addWidget(card)
    assert card.result_view.toPlainText().startswith("[1] handbook.md (passage 1, score 1.50)")
    assert card.summary.text().endswith("→ 1 passage(s)")


def test_cards_screenshot(qtbot):
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from engines.tools.sandbox import run_python

    py = run_python("print(sum(i * i for i in range(1, 6)))")
    python_call = {"tool": "python", "args": {"code": "print(sum(i * i for i in range(1, 6)))"}, "ok": True,
                   "result": py, "error": None, "duration_s": py["duration_s"], "confidence": 0.88}
    box = QWidget()
    lay = QVBoxLayout(box)
    for call, open_ in ((CALC, False), (python_call, True), (FAILED, True), (SEARCH, True)):
        lay.addWidget(ToolCallCard(call, expanded=open_))
    lay.addStretch(1)
    qtbot.addWidget(box)
    box.resize(680, 720)
    box.show()
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert box.grab().save(str(SHOTS / "tool_card.png"))


def test_a_python_call_in_reduced_mode_is_marked_in_red(qtbot):
    """The user opted in to the reduced sandbox: every such call says so, in red."""
    from engines.tools.sandbox import SandboxLimits, run_python
    from ui.tool_cards import FAIL_COLOUR

    reduced = run_python("print(6 * 7)", SandboxLimits(kernel_layers=False, allow_reduced=True))
    full = run_python("print(6 * 7)")
    assert reduced["ok"] and reduced["layers"]["mode"] == "reduced"
    cards = {}
    for name, res in (("reduced", reduced), ("full", full)):
        cards[name] = ToolCallCard({"tool": "python", "args": {"code": "print(6 * 7)"}, "ok": True, "result": res,
                                    "error": None, "duration_s": res["duration_s"]})
        qtbot.addWidget(cards[name])
    assert "reduced sandbox" in cards["reduced"].sandbox_warning.text()
    assert FAIL_COLOUR in cards["reduced"].sandbox_warning.styleSheet()
    assert cards["reduced"].sandbox_warning.isVisibleTo(cards["reduced"])  # shown collapsed, not only when expanded
    if full["layers"]["mode"] == "full":
        assert not hasattr(cards["full"], "sandbox_warning")
    cards["reduced"].show()
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert cards["reduced"].grab().save(str(SHOTS / "tool_card_reduced_sandbox.png"))
