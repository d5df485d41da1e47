"""The Models page: the registry with facts and lineage, Export through a real job, Delete with
dependents named, and clean failures (corrupt GGUF import, Hub pull offline).

Real SQLite, real job child processes and real files; the adapter is a random LoRA in
gemma-3-270m's shapes (the trained one is in the agreement tests). Screenshots go to
docs/screenshots/models*.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.export_fixtures import GEMMA_270M, register_adapter, write_random_lora

from tests.ui.shots import SHOTS  # a temp folder unless `make screenshots`


def shot(widget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(SHOTS / f"{name}.png"))


@pytest.fixture
def adapter_with_lineage(studio_with_model):
    """An adapter registered the way a training job leaves it: a job, a dataset version, a config."""
    from studio.db import Dataset, DatasetVersion, Job, Model

    st = studio_with_model
    base = st.registry.get("gemma-3-270m (base)")
    with st.db.session() as s:
        ds = Dataset(name="support-chats", kind="sft")
        dv = DatasetVersion(dataset=ds, version=3, content_hash="ab12cd34ef56" * 5, row_count=450)
        s.add(dv)
        s.flush()
        job = Job(kind="sft", name="sft support-chats v3", state="succeeded", base_model_id=base.id,
                  dataset_version_id=dv.id, config={"preset": "Quick", "lora_r": 16, "learning_rate": 2e-4, "max_steps": 40})
        s.add(job)
        s.flush()
        job_id, dv_id = job.id, dv.id
    out = st.home.job_dir(job_id) / "output" / "adapter"  # where a job leaves it (and no temp path in the shot)
    adapter = register_adapter(st, write_random_lora(out, **GEMMA_270M, modules=("q_proj", "v_proj")),
                               name="support-bot")
    with st.db.session() as s:
        m = s.get(Model, adapter.id)
        m.job_id, m.dataset_version_id = job_id, dv_id
    return st, st.registry.get(adapter.id)


def _page(qtbot, st):
    from ui.models_page import ModelsPage

    page = ModelsPage(st)
    qtbot.addWidget(page)
    page.resize(1280, 760)
    page.show()
    qtbot.waitUntil(lambda: len(page.rows) > 0, timeout=10_000)
    return page


def test_default_base_is_marked_semi_finished_with_its_facts(qtbot, studio_with_model):
    page = _page(qtbot, studio_with_model)
    page.select("gemma-3-270m (base)")
    row = page.selected()
    texts = [page.table.item(0, c).text() for c in range(page.table.columnCount())]
    assert texts[0].endswith("default base")
    assert texts[1:9] == ["base", "gguf", "gemma3", "268.1 M", "Q4_K_M", "32768", "241.4 MiB", "missing"]
    assert page.badge.isVisible() and "semi-finished" in page.badge.text()
    assert row["kind"] == "base" and not page.export_button.isEnabled()
    # no machine's temp folder in the facts (or the screenshots): the file is named in the data home
    assert page.fact_labels["path"].text() == "data home/models/gemma-3-270m-q4_k_m.gguf"
    assert page.fact_labels["path"].toolTip() == row["path"]
    qtbot.wait(50)
    shot(page, "models_base")


def test_export_from_the_page_registers_a_gguf_lora_with_its_lineage(qtbot, adapter_with_lineage):
    st, adapter = adapter_with_lineage
    assert st.jobs.try_become_runner()  # as the window does at start
    page = _page(qtbot, st)
    page.select(adapter.name)
    assert page.export_button.isEnabled() and page.merge_button.isEnabled()
    qtbot.waitUntil(lambda: "support-chats v3" in page.fact_labels["dataset"].text(), timeout=10_000)
    shot(page, "models_adapter")

    job_id = page.export_button.click() or page.export_job
    assert job_id is not None and not page.export_button.isEnabled()  # one export at a time
    qtbot.waitUntil(lambda: page.export_job is None, timeout=120_000)
    assert page.status.text() == "Exported support-bot (GGUF LoRA)", page.status.text()
    qtbot.waitUntil(lambda: any(r["kind"] == "export" for r in page.rows), timeout=10_000)
    qtbot.waitUntil(lambda: (page.selected() or {}).get("kind") == "export", timeout=10_000)
    qtbot.waitUntil(lambda: page.details is not None and page.details["id"] == page.selected()["id"], timeout=10_000)

    lineage = page.lineage_text.toPlainText().splitlines()
    assert lineage[0].startswith("support-bot (GGUF LoRA) [export, gguf-lora] ← job")
    assert lineage[1] == "support-bot [adapter, peft] ← job 1 (sft, succeeded) on support-chats v3 (450 rows)"
    assert lineage[2].startswith("gemma-3-270m (base) [base, gguf]")
    assert '"lora_r": 16' in page.config_text.toPlainText() and '"adapter_id"' in page.config_text.toPlainText()
    assert page.fact_labels["modelfile"].text().endswith("support-bot-lora.Modelfile")
    assert page.fact_labels["template"].text() == "present (gemma)"
    qtbot.wait(50)
    shot(page, "models")


def test_delete_names_the_dependents_then_deletes_after_confirmation(qtbot, adapter_with_lineage):
    st, adapter = adapter_with_lineage
    page = _page(qtbot, st)
    told, asked = [], []
    page.tell = lambda title, text: told.append(text)
    page.confirm = lambda title, text: asked.append(text) or True

    page.select("gemma-3-270m (base)")
    assert page.delete_selected() is False
    assert told and "gemma-3-270m starter assistant, support-bot depend on it" in told[0] and asked == []

    page.select(adapter.name)
    assert page.delete_selected() is True
    assert "support-bot" in asked[0] and str(adapter.path) in asked[0]
    qtbot.waitUntil(lambda: all(r["name"] != "support-bot" for r in page.rows), timeout=10_000)
    assert not Path(adapter.path).exists()  # a managed adapter's folder goes with it


def test_corrupt_gguf_import_and_offline_pull_fail_cleanly_and_the_page_keeps_working(qtbot, studio_with_model, tmp_path):
    st = studio_with_model
    page = _page(qtbot, st)
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x01" * 20)
    page.import_path(str(bad))
    qtbot.waitUntil(lambda: page.status.text().startswith("Failed"), timeout=10_000)
    assert "broken.gguf" in page.status.text()

    before = sorted(p.name for p in st.home.models.iterdir())
    page.pull("google/gemma-3-270m")
    qtbot.waitUntil(lambda: page.status.text().startswith("Failed"), timeout=10_000)
    assert "Cannot pull google/gemma-3-270m" in page.status.text() and not page.progress.isVisible()
    assert sorted(p.name for p in st.home.models.iterdir()) == before
    assert [m.name for m in st.registry.list()] == ["gemma-3-270m (base)", "gemma-3-270m starter assistant"]
    page.refresh()
    qtbot.waitUntil(lambda: len(page.rows) == 2, timeout=10_000)
