"""Click through the fine-tune wizard: base -> dataset -> method -> template -> preset -> review
-> Launch, to a finished adapter; and Clone as new run re-opens a job's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.datasets.rows import append_rows

from tests.ui.shots import SHOTS  # a temp folder unless `make screenshots`


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from tests.helpers.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "gemma", arch="gemma3")


@pytest.fixture
def st(studio, tiny_dir):
    studio.registry.import_path(tiny_dir, name="tiny-gemma")
    rows = [{"messages": [{"role": "user", "content": f"add {i} and {i + 1}"}, {"role": "assistant", "content": f"ANSWER: {2 * i + 1}"}]}
            for i in range(20)]
    append_rows(studio.db, "adds", "sft", rows, note="first import")
    append_rows(studio.db, "adds", "sft", rows[:4], note="more rows")
    return studio


def _next(qtbot, wiz):
    from PySide6.QtWidgets import QWizard

    qtbot.waitUntil(lambda: wiz.button(QWizard.WizardButton.NextButton).isEnabled(), timeout=5000)
    wiz.next()


def _shot(widget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(SHOTS / name))


def test_wizard_clicks_through_to_a_finished_adapter(qtbot, st):
    from engines.templates import get_template
    from ui.wizard import FineTuneWizard

    wiz = FineTuneWizard(st)
    qtbot.addWidget(wiz)
    wiz.resize(820, 640)
    wiz.show()
    base = wiz.pages[0]
    assert base.list.count() == 1 and "tiny-gemma" in base.list.item(0).text()
    _shot(wiz, "wizard-1-base.png")
    _next(qtbot, wiz)

    data = wiz.pages[1]
    assert data.dataset.currentData() == "adds"
    assert [data.version.itemText(i).split(" · ")[:2] for i in range(data.version.count())] == [["v2", "24 rows"], ["v1", "20 rows"]]
    data.version.setCurrentIndex(1)  # train on v1
    _next(qtbot, wiz)

    method = wiz.pages[2]
    assert [name for _b, name in method._buttons][0] == "sft"
    _next(qtbot, wiz)

    tpl = wiz.pages[3]
    assert tpl.combo.currentData() == "gemma"  # picked from the architecture
    preview = tpl.preview.toPlainText()
    assert preview.startswith("<bos><start_of_turn>user\nadd 0 and 1<end_of_turn>\n<start_of_turn>model\nANSWER: 1")
    _shot(wiz, "wizard-2-template.png")
    _next(qtbot, wiz)

    preset = wiz.pages[4]
    preset._buttons["thorough"].setChecked(True)
    assert preset.editors["lora_r"].value() == 32
    preset._buttons["quick"].setChecked(True)
    assert preset.editors["lora_r"].value() == 8
    preset.advanced.setChecked(True)
    preset.editors["max_steps"].setValue(4)
    preset.editors["learning_rate"].setText("0.005")
    preset.editors["max_length"].setValue(64)
    _shot(wiz, "wizard-3-preset-advanced.png")
    _next(qtbot, wiz)

    review = wiz.pages[5]
    qtbot.waitUntil(lambda: review.estimate is not None, timeout=10_000)
    assert review.plan["config"]["max_steps"] == 4 and review.plan["dataset_version"] == 1
    assert review.estimate["fits"] and "iB" in review.mem_labels["total_bytes"].text()
    assert "4 steps" in review.summary.text() or "4</b> steps" in review.run_info.text()
    _shot(wiz, "wizard-4-review.png")

    with qtbot.waitSignal(wiz.launched, timeout=30_000) as launched:
        wiz.accept()
    job_id = launched.args[0]
    st.jobs.try_become_runner()
    job = st.jobs.wait(job_id, timeout=240)
    assert job.state == "succeeded", (job.error, job.hint)
    adapter = st.registry.get(job.result["model_name"])
    assert adapter.parent.name == "tiny-gemma" and adapter.chat_template == get_template("gemma").inference
    assert job.config["max_steps"] == 4 and job.config["lora_r"] == 8


def test_review_refuses_a_run_that_cannot_start_and_warns_before_one_that_will_not_fit(qtbot, studio_with_model):
    from ui.wizard import FineTuneWizard

    st = studio_with_model
    append_rows(st.db, "adds", "sft", [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}] * 3)
    wiz = FineTuneWizard(st)
    qtbot.addWidget(wiz)
    wiz.resize(820, 640)
    wiz.show()
    assert "gemma-3-270m (base)" in wiz.pages[0].list.currentItem().text()  # the default base
    for _ in range(4):
        _next(qtbot, wiz)
    preset = wiz.pages[4]
    preset.advanced.setChecked(True)
    preset.editors["batch_size"].setValue(512)  # x 262k vocabulary logits: far beyond this machine
    _next(qtbot, wiz)
    review = wiz.pages[5]
    qtbot.waitUntil(lambda: review.estimate is not None, timeout=10_000)
    assert not review.estimate["fits"]
    assert review.warning.isVisibleTo(wiz) and "lower the batch size" in review.warning.text()
    _shot(wiz, "wizard-5-will-not-fit.png")

    wiz.back()
    preset.editors["lora_dropout"].setText("1.5")
    _next(qtbot, wiz)
    assert review.plan is None and "lora_dropout" in review.summary.text()
    from PySide6.QtWidgets import QWizard

    assert not wiz.button(QWizard.WizardButton.FinishButton).isEnabled()


def test_closed_advanced_panel_says_what_it_holds_and_how_to_open_it(qtbot, st):
    from ui.wizard import FineTuneWizard

    wiz = FineTuneWizard(st)
    qtbot.addWidget(wiz)
    wiz.resize(820, 640)
    wiz.show()
    for _ in range(4):
        _next(qtbot, wiz)
    preset = wiz.pages[4]
    assert not preset.advanced.isChecked()
    assert preset.advanced_hint.isVisible() and not preset.scroll.isVisible()
    assert "Tick Advanced" in preset.advanced_hint.text() and "learning rate" in preset.advanced_hint.text()
    _shot(wiz, "wizard-3-preset.png")
    preset.advanced.setChecked(True)
    assert preset.scroll.isVisible() and not preset.advanced_hint.isVisible()
    qtbot.waitUntil(lambda: preset.advanced.height() > 200, timeout=3000)  # the open panel takes the room
    wiz.reject()


def test_clone_as_new_run_prefills_the_wizard(qtbot, st):
    from studio.training import TrainingService
    from ui.wizard import FineTuneWizard

    svc = TrainingService(st)
    plan = svc.plan("sft", base="tiny-gemma", dataset="adds", version=1, preset="balanced", template="chatml",
                    overrides={"lora_r": 12, "max_steps": 7})
    job_id = st.jobs.submit("sft", plan["config"], base_model_id=plan["base_model_id"], dataset_version_id=plan["dataset_version_id"])
    st.jobs.cancel(job_id)
    wiz = FineTuneWizard(st, prefill=svc.clone_plan(job_id))
    qtbot.addWidget(wiz)
    wiz.show()
    for _ in range(4):
        _next(qtbot, wiz)
    assert wiz.choice["version"] == 1 and wiz.choice["template"] == "chatml"
    preset = wiz.pages[4]
    assert preset.advanced.isChecked() and preset.editors["lora_r"].value() == 12 and preset.editors["max_steps"].value() == 7
    _next(qtbot, wiz)
    assert wiz.pages[5].plan["config"]["lora_r"] == 12


def test_train_page_opens_the_wizard_and_lists_runs(qtbot, st):
    from ui.train_page import TrainPage
    from ui.wizard import FineTuneWizard

    page = TrainPage(st)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.jobs.count() == 1, timeout=5000)
    assert page.jobs.item(0).text() == "No training runs yet."
    page.new_btn.click()
    assert isinstance(page.wizard, FineTuneWizard) and page.wizard.isVisible()
    page.wizard.reject()
    page.shutdown()
