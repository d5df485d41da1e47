"""The Datasets page end to end: import through the dialog, scroll, edit a row, rate two pairs.

Real SQLite and the real service on worker threads; no model is needed (token counts are
estimates in this home). Screenshots of each view go to docs/screenshots/.
"""

from __future__ import annotations

import json
import os

import pytest
from PySide6.QtCore import Qt

from tests.ui.shots import SHOTS  # a temp folder unless `make screenshots`


def shot(widget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(SHOTS / f"{name}.png"))


@pytest.fixture
def chats(tmp_path):
    path = tmp_path / "support_chats.jsonl"
    with open(path, "w") as f:
        for i in range(450):
            f.write(json.dumps({"conversations": [
                {"from": "human", "value": f"My order #{1000 + i} has not arrived. What can I do?"},
                {"from": "gpt", "value": f"Sorry about order #{1000 + i}. I have checked the tracking: it ships tomorrow."}]}) + "\n")
    return path


def test_import_scroll_edit_and_rate(qtbot, studio, chats, tmp_path):
    from studio.datasets.rows import append_rows, iter_rows
    from studio.datasets.service import DatasetService
    from ui.datasets_page import DatasetsPage

    page = DatasetsPage(studio)
    qtbot.addWidget(page)
    page.resize(1400, 820)
    page.show()

    # import through the dialog: it shows the mapping it chose before storing anything
    dlg = page.open_import(str(chats))
    qtbot.waitUntil(lambda: "sharegpt" in dlg.mapping_label.text(), timeout=10_000)
    assert "kind <b>sft</b>" in dlg.mapping_label.text() and "from → role" in dlg.mapping_label.text()
    assert dlg.name_edit.text() == "support_chats" and dlg.import_button.isEnabled()
    qtbot.wait(50)  # let the layout settle before the screenshot
    shot(dlg, "datasets_import")
    dlg.import_button.click()
    qtbot.waitUntil(lambda: page.info is not None and page.model.rowCount() > 0, timeout=15_000)
    assert page.info["name"] == "support_chats" and page.info["rows"] == 450
    assert page.model.rowCount() == 200  # one page, not the whole version

    # scrolling to the end fetches the next pages (keyset), until every row is there
    for _ in range(5):
        page.table.scrollToBottom()
        qtbot.wait(50)
    qtbot.waitUntil(lambda: page.model.rowCount() == 450, timeout=15_000)
    assert [r["position"] for r in page.model.rows] == list(range(450))

    # select a row: its transcript shows; edit it in the editor: a new version holds the change
    page.table.selectRow(5)
    qtbot.waitUntil(lambda: "#1005" in page.transcript.toPlainText(), timeout=10_000)
    page.edit_button.click()
    editor = page.editor
    qtbot.waitUntil(lambda: "<start_of_turn>model" in editor.preview.toPlainText(), timeout=10_000)
    assert editor.preview.toPlainText().startswith("<bos><start_of_turn>user\nMy order #1005")
    before = editor.token_label.text()
    editor.turns[1].content.setPlainText("Your parcel #1005 was delivered to the neighbour at number 12, who has signed for it.")
    qtbot.waitUntil(lambda: editor.token_label.text() != before, timeout=10_000)
    shot(editor, "datasets_editor")
    editor.save_button.click()
    qtbot.waitUntil(lambda: page.info["version"] == 2 and page.model.rowCount() > 0, timeout=15_000)
    svc = DatasetService(studio)
    assert svc.get_row(page.info["version_id"], 5)["row"]["messages"][1]["content"].startswith("Your parcel #1005")
    assert svc.get_row(svc.show("support_chats", 1)["version_id"], 5)["row"]["messages"][1]["content"].startswith("Sorry")

    # delete two rows, then undo: the restored version has the hash of version 2
    page.table.selectRow(0)
    page.table.selectionModel().select(page.model.index(1, 0), page.table.selectionModel().SelectionFlag.Select | page.table.selectionModel().SelectionFlag.Rows)
    page.delete_button.click()
    qtbot.waitUntil(lambda: page.info["version"] == 3 and page.model.rowCount() > 0, timeout=15_000)
    assert page.info["rows"] == 448
    page.undo_button.click()
    qtbot.waitUntil(lambda: page.info["version"] == 4 and page.model.rowCount() == 200, timeout=15_000)
    assert page.info["content_hash"] == svc.show("support_chats", 2)["content_hash"]

    # duplicate a row through the editor: the copy lands right after it
    page.table.selectRow(7)
    assert page.dup_button.isEnabled()
    page.dup_button.click()
    qtbot.waitUntil(lambda: "#1007" in page.editor.preview.toPlainText(), timeout=10_000)
    page.editor.save_button.click()
    qtbot.waitUntil(lambda: page.info["version"] == 5 and page.model.rowCount() > 0, timeout=15_000)
    assert page.info["rows"] == 451 and page.model.rows[8]["user"] == page.model.rows[7]["user"]

    # search narrows the table through FTS5
    page.search.setText("1042")
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=15_000)
    page.table.selectRow(0)
    qtbot.waitUntil(lambda: "#1042" in page.transcript.toPlainText(), timeout=10_000)
    shot(page, "datasets")

    # quality report: the histogram and findings
    page.search.setText("")
    page.side_tabs.setCurrentIndex(1)
    page.quality.run_button.click()
    qtbot.waitUntil(lambda: page.quality.findings.count() == 5, timeout=20_000)
    assert "451" in page.quality.summary.text()
    # a finding links to its rows: activating it shows just those rows in the table
    dup = page.quality.findings.item(0)
    assert dup.text().endswith("exact duplicates (same normalised text): 1")
    page.quality.findings.itemActivated.emit(dup)
    qtbot.waitUntil(lambda: [r["position"] for r in page.model.rows] == [8], timeout=10_000)
    assert "exact duplicates" in page.filter_note.text()
    shot(page, "datasets_quality")
    page.clear_positions()
    qtbot.waitUntil(lambda: page.model.rowCount() == 200, timeout=10_000)

    # bulk actions on a selection: tag three rows, move two to eval, then filter by both
    page.table.selectRow(0)
    sel = page.table.selectionModel()
    for r in (1, 2):
        sel.select(page.model.index(r, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
    page.tag_selected("vip")
    qtbot.waitUntil(lambda: page.info["version"] == 6 and page.model.rowCount() == 200, timeout=15_000)
    assert page.info["tags"] == {"vip": 3}
    page.table.selectRow(1)
    sel.select(page.model.index(2, 0), sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
    page.move_combo.setCurrentText("eval")
    page.move_button.click()
    qtbot.waitUntil(lambda: page.info["version"] == 7 and page.model.rowCount() == 200, timeout=15_000)
    assert page.info["splits"] == {"train": 449, "eval": 2}
    page.tag_filter.setText("vip")
    page.split_filter.setCurrentText("eval")
    qtbot.waitUntil(lambda: [r["position"] for r in page.model.rows] == [1, 2], timeout=10_000)
    page.tag_filter.setText("")
    page.split_filter.setCurrentText("all splits")

    # clicking the Length header sorts by length; clicking again reverses the order
    page.table.horizontalHeader().sectionClicked.emit(3)
    page.table.horizontalHeader().sectionClicked.emit(3)
    qtbot.waitUntil(lambda: page.model.query.get("sort") == "length" and page.model.query.get("descending")
                    and page.model.rowCount() == 200, timeout=10_000)
    lengths = [r["length"] for r in page.model.rows]
    assert lengths == sorted(lengths, reverse=True) and lengths[0] > lengths[-1]

    # rate two pairs with the keyboard: 1 (A) and 2 (B) append rows to the target dataset
    append_rows(studio.db, "pairs", "preference", [
        {"prompt": "Where is my parcel?", "chosen": "It ships tomorrow; here is the tracking link.", "rejected": "No idea."},
        {"prompt": "Can I return shoes?", "chosen": "Yes, within 30 days with the receipt.", "rejected": "Maybe."},
    ])
    page.tabs.setCurrentIndex(1)
    rate = page.rate_view
    rate.source.setCurrentIndex(rate.source.findData("pairs"))
    rate.target.setText("support_prefs")
    rate.load_button.click()
    qtbot.waitUntil(lambda: len(rate.pairs) == 2 and rate.choice_buttons["a"].isEnabled(), timeout=10_000)
    shot(page, "rate")
    first = rate.current()
    rate.setFocus()
    qtbot.keyClick(rate, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: rate.index == 1 and rate.choice_buttons["b"].isEnabled(), timeout=10_000)
    second = rate.current()
    qtbot.keyClick(rate, Qt.Key.Key_2)
    qtbot.waitUntil(lambda: rate.index == 2, timeout=10_000)
    rows = list(iter_rows(studio.db, svc.show("support_prefs")["version_id"]))
    assert rows[0]["chosen"] == first.a and rows[0]["rejected"] == first.b
    assert rows[1]["chosen"] == second.b and rows[1]["rejected"] == second.a
    assert "2 ratings stored" in rate.agreement_label.text()
    page.shutdown()


def test_import_dialog_lists_problems_and_stores_nothing(qtbot, studio, tmp_path):
    from ui.datasets_page import DatasetsPage

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}) + "\n"
                   + json.dumps({"messages": [{"role": "user", "content": "Hi"}]}) + "\n")
    page = DatasetsPage(studio)
    qtbot.addWidget(page)
    dlg = page.open_import(str(bad))
    qtbot.waitUntil(lambda: "bad.jsonl:2:" in dlg.problems.toPlainText(), timeout=10_000)
    dlg.import_button.click()
    qtbot.waitUntil(lambda: "nothing was imported" in dlg.problems.toPlainText(), timeout=10_000)
    assert "bad.jsonl:2: messages does not end with an assistant turn" in dlg.problems.toPlainText()
    assert page.service.list() == []
    page.shutdown()


@pytest.mark.slow
def test_editor_counts_tokens_with_the_selected_base_model(qtbot, studio_with_model):
    from studio.datasets.tokens import default_counter
    from ui.dataset_editor import EditorDialog

    row = {"messages": [{"role": "user", "content": "Bonjour"}, {"role": "assistant", "content": "Salut !"}]}
    dlg = EditorDialog(studio_with_model, "sft", row)
    qtbot.addWidget(dlg)
    assert dlg.tokenizer.currentText() == "gemma-3-270m (base)"
    qtbot.waitUntil(lambda: "gemma-3-270m" in dlg.token_label.text(), timeout=15_000)
    text = dlg.preview.toPlainText()
    exact = default_counter(studio_with_model).count(text, add_bos=False)
    assert dlg.token_label.text().startswith(f"Tokens: {exact} ")
    assert text.startswith("<bos><start_of_turn>user\nBonjour")
    dlg.turns[1].content.setPlainText("")  # an empty answer cannot be saved
    qtbot.waitUntil(lambda: "is empty" in dlg.problem.text(), timeout=10_000)
    assert not dlg.save_button.isEnabled()
    dlg._workers and qtbot.waitUntil(lambda: not dlg._workers, timeout=10_000)


@pytest.mark.slow
def test_rate_view_gets_candidates_from_the_base_model_for_a_prompt_dataset(qtbot, studio_with_model):
    from studio.datasets.rows import append_rows
    from studio.datasets import rating
    from studio.datasets.service import DatasetService
    from ui.rate_view import RateView

    append_rows(studio_with_model.db, "questions", "prompt", [{"prompt": "Name a colour of the sky."}])
    view = RateView(studio_with_model, DatasetService(studio_with_model))
    qtbot.addWidget(view)
    view.answer_tokens = 8  # the flow, not the prose, is under test
    view.source.setCurrentIndex(view.source.findData("questions"))
    view.load_button.click()
    qtbot.waitUntil(lambda: len(view.pairs) == 1 and view.choice_buttons["tie"].isEnabled(), timeout=60_000)
    assert view.current().source == "model gemma-3-270m (base)" and view.a_view.toPlainText()
    host = view._chat._backends["rate"]  # the answers came from a model-host child, not this process
    assert host.pid not in (None, os.getpid())
    qtbot.keyClick(view, Qt.Key.Key_3)
    qtbot.waitUntil(lambda: view.index == 1, timeout=10_000)
    assert rating.agreement(studio_with_model)["ratings"] == 1
    assert "ratings" not in [d["name"] for d in DatasetService(studio_with_model).list()]  # a tie adds no pair
    qtbot.waitUntil(lambda: not view._workers, timeout=10_000)
    view.shutdown()
    assert host.pid is None


def test_reward_model_button_shows_only_when_the_preference_area_can_score(qtbot, studio, monkeypatch):
    from studio.datasets.service import DatasetService
    from ui import rate_view
    from ui.rate_view import RateView

    assert rate_view.reward_scorer() is not None  # the preference area is part of this build
    shown = RateView(studio, DatasetService(studio))
    qtbot.addWidget(shown)
    assert not shown.score_button.isHidden()
    monkeypatch.setattr(rate_view, "reward_scorer", lambda: None)  # a build without the preference area
    hidden = RateView(studio, DatasetService(studio))
    qtbot.addWidget(hidden)
    assert hidden.score_button.isHidden()


def test_enter_in_the_import_file_field_accepts_the_path_without_opening_the_chooser(qtbot, studio, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from studio.datasets.service import DatasetService
    from ui.dataset_import_dialog import ImportDialog

    f = tmp_path / "rows.jsonl"
    f.write_text(json.dumps({"prompt": "hi", "completion": "hello"}) + "\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: pytest.fail("Enter opened the file chooser"))
    dlg = ImportDialog(DatasetService(studio))
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.path_edit.setFocus()
    dlg.path_edit.setText(str(f))
    qtbot.keyClick(dlg.path_edit, Qt.Key.Key_Return)
    assert dlg.path_edit.text() == str(f)


@pytest.mark.slow
def test_table_editor_and_quality_report_count_one_row_alike(qtbot, studio_with_model, tmp_path):
    """One row, one number: the table cell, the editor's label and the report's min/mean/max."""
    from studio.datasets.service import DatasetService
    from ui.dataset_editor import EditorDialog
    from ui.dataset_table import COLUMNS, DatasetTableModel

    row = {"messages": [{"role": "user", "content": "My order #1042 has not arrived. What can I do?"},
                        {"role": "assistant", "content": "Sorry about that. The tracking says it ships tomorrow."}]}
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(row) + "\n")
    svc = DatasetService(studio_with_model)
    version_id = svc.import_file(path, "one").version_id
    report = svc.stats("one")["length"]  # counted first: the table must read the same cache

    model = DatasetTableModel(svc)
    model.load_sync(version_id)
    cell = model.data(model.index(0, [k for k, _ in COLUMNS].index("length")))

    dlg = EditorDialog(studio_with_model, "sft", svc.get_row(version_id, model.rows[0]["position"])["row"])
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "gemma-3-270m" in dlg.token_label.text(), timeout=15_000)
    editor = int(dlg.token_label.text().split()[1])

    assert not cell.startswith("~")
    assert int(cell) == editor == report["min"] == report["max"] == report["mean"]
    assert "gemma" in report["unit"]
    # a row the table counts first (before any report): the report reads the table's count
    other = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]}
    path.write_text(json.dumps(other) + "\n")
    model.load_sync(svc.import_file(path, "two").version_id)
    assert model.rows[0]["exact"]
    assert model.rows[0]["length"] == svc.stats("two")["length"]["max"] < editor
    dlg._workers and qtbot.waitUntil(lambda: not dlg._workers, timeout=10_000)
