"""Models change, the window follows: every picker refills itself from the registry's change
notifications, with full names and an obvious active adapter.

The export runs as a real job (a GGUF LoRA of a random adapter in gemma-3-270m's shapes, a few
seconds) whose finisher registers the model through its own Registry: the Chat page learns of
it by the watcher's poll, as it would from the window's job runner.
"""

from __future__ import annotations

from tests.export_fixtures import GEMMA_270M, register_adapter, write_random_lora
from tests.helpers.widgets import shown


def _items(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def test_an_adapter_exported_while_the_chat_page_is_open_appears_in_its_picker(qtbot, studio_with_model, tmp_path):
    from studio.models.exports import submit_export
    from ui.chat_page import ChatPage

    st = studio_with_model
    page = shown(qtbot, ChatPage(st))
    try:
        qtbot.waitUntil(lambda: page.model_combo.count() > 1, timeout=10_000)
        before = ["No adapter", "gemma-3-270m starter assistant"]  # the packaged starter is there from the start
        assert _items(page.adapter_combo) == before
        page.show_compare(True)
        adapter = register_adapter(st, write_random_lora(tmp_path / "ad", **GEMMA_270M, r=2, modules=("q_proj",)),
                                   name="support-bot")
        assert st.jobs.try_become_runner()
        job_id = submit_export(st, adapter.name)
        st.jobs.wait(job_id, timeout=120)
        assert st.jobs.get(job_id).state == "succeeded"
        export = st.registry.get(st.jobs.get(job_id).result["model"])  # (the starter is an export too)
        qtbot.waitUntil(lambda: export.name in _items(page.adapter_combo), timeout=5_000)
        for pane in (page.compare.pane_a, page.compare.pane_b):
            assert export.name in _items(pane.adapter)

        # picking it makes it obvious, and the full name is on show
        i = page.adapter_combo.findData(export.name)
        page.adapter_combo.setCurrentIndex(i)
        page.adapter_combo.activated.emit(i)
        assert page.adapter_combo.property("active") is True
        assert page.adapter_combo.toolTip() == export.name
        assert page.adapter_combo.width() >= page.adapter_combo.fontMetrics().horizontalAdvance(export.name)

        # renamed and removed elsewhere: the pickers follow, and the chat keeps working without it
        st.registry.rename(export.id, "support-bot for llama.cpp")
        qtbot.waitUntil(lambda: "support-bot for llama.cpp" in _items(page.adapter_combo), timeout=5_000)
        assert export.name not in _items(page.adapter_combo)
        st.registry.delete(export.id)
        qtbot.waitUntil(lambda: _items(page.adapter_combo) == before, timeout=5_000)
        assert page.adapter_combo.property("active") is False
    finally:
        page.shutdown()


def test_models_page_and_wizard_follow_an_import(qtbot, studio_with_model, gemma_gguf):
    from ui.models_page import ModelsPage
    from ui.wizard import FineTuneWizard

    st = studio_with_model
    models = ModelsPage(st)
    qtbot.addWidget(models)
    wiz = FineTuneWizard(st, prefill={"base": "gemma-3-270m (base)"})
    qtbot.addWidget(wiz)
    wiz.show()
    qtbot.waitUntil(lambda: len(models.rows) == 2, timeout=10_000)  # the base and the packaged starter
    base_page = wiz.pages[0]
    assert base_page.list.count() == 1
    st.registry.import_path(gemma_gguf, name="a second gemma with a long descriptive name")
    qtbot.waitUntil(lambda: len(models.rows) == 3, timeout=5_000)
    qtbot.waitUntil(lambda: base_page.list.count() == 2, timeout=5_000)
    assert base_page.list.currentItem().data(256) == "gemma-3-270m (base)"  # the choice is kept
