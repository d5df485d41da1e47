"""The import dialog names the source columns that will not be imported, before anything is stored."""

from __future__ import annotations


def test_import_dialog_lists_the_columns_it_will_not_import(qtbot, studio, tmp_path):
    from studio.datasets.service import DatasetService
    from ui.dataset_import_dialog import ImportDialog

    path = tmp_path / "extra.csv"
    path.write_text("prompt,completion,<b>notes</b>\nhi,hello,internal\n", encoding="utf-8")
    dlg = ImportDialog(DatasetService(studio), None, str(path))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "kind <b>sft</b>" in dlg.mapping_label.text(), timeout=10_000)
    text = dlg.mapping_label.text()
    assert "Mapping: prompt → prompt, completion → completion" in text
    # the column name is shown as text, not as markup
    assert "<b>Not imported:</b> &lt;b&gt;notes&lt;/b&gt; (the mapping uses no such column)" in text
    assert dlg.import_button.isEnabled()  # an ignored column is said, not an error
    dlg._workers and qtbot.waitUntil(lambda: not dlg._workers, timeout=10_000)
