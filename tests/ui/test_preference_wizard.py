"""The preference methods in the fine-tune wizard: DPO from a preference dataset to a finished
adapter (through the job runner), and GRPO's reward settings reaching the job's plan."""

from __future__ import annotations


import pytest

from studio.datasets.rows import append_rows
from tests.engines.pref_tiny import format_pairs, make_word_model, sum_prompts

from tests.ui.shots import SHOTS  # a temp folder unless `make screenshots`


@pytest.fixture
def st(studio, tmp_path):
    studio.registry.import_path(make_word_model(tmp_path / "word"), "tiny-word")
    append_rows(studio.db, "ratings", "preference", format_pairs(32, 1), source="rate-view")
    append_rows(studio.db, "sums", "prompt", sum_prompts(16, 2))
    return studio


def _next(qtbot, wiz):
    from PySide6.QtWidgets import QWizard

    qtbot.waitUntil(lambda: wiz.button(QWizard.WizardButton.NextButton).isEnabled(), timeout=5000)
    wiz.next()


def _to_presets(qtbot, wiz, dataset: str, method: str):
    _next(qtbot, wiz)  # base
    data = wiz.pages[1]
    data.dataset.setCurrentIndex(data.dataset.findData(dataset))
    _next(qtbot, wiz)
    page = wiz.pages[2]
    offered = [name for _b, name in page._buttons]
    next(b for b, name in page._buttons if name == method).setChecked(True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    wiz.grab().save(str(SHOTS / f"preference-wizard-method-{method}.png"))
    _next(qtbot, wiz)
    wiz.pages[3].combo.setCurrentIndex(wiz.pages[3].combo.findData("chatml"))
    _next(qtbot, wiz)
    return offered


def test_wizard_runs_dpo_on_a_preference_dataset(qtbot, st):
    from ui.wizard import FineTuneWizard

    wiz = FineTuneWizard(st)
    qtbot.addWidget(wiz)
    wiz.resize(820, 640)
    wiz.show()
    offered = _to_presets(qtbot, wiz, "ratings", "dpo")
    assert offered == ["reward", "dpo"]  # only the methods that train on preference rows
    preset = wiz.pages[4]
    preset.advanced.setChecked(True)
    assert preset.editors["beta"].text() == "0.1" and preset.editors["loss_type"].text() == "sigmoid"
    preset.editors["max_steps"].setValue(3)
    preset.editors["batch_size"].setValue(8)
    preset.editors["max_length"].setValue(64)
    preset.editors["loss_type"].setText("ipo")
    preset.editors["monitors"].setText("sample_every=2, samples_per_log=2")
    preset.editors["max_new_tokens"].setValue(4)
    bar = preset.scroll.verticalScrollBar()
    bar.setValue(bar.maximum())  # the DPO fields: beta, loss type, monitors
    wiz.grab().save(str(SHOTS / "preference-wizard-dpo-advanced.png"))
    _next(qtbot, wiz)
    review = wiz.pages[5]
    qtbot.waitUntil(lambda: review.estimate is not None, timeout=10_000)
    assert review.plan["config"]["loss_type"] == "ipo"
    with qtbot.waitSignal(wiz.launched, timeout=30_000) as launched:
        wiz.accept()
    st.jobs.try_become_runner()
    job = st.jobs.wait(launched.args[0], timeout=240)
    assert job.state == "succeeded", (job.error, job.hint)
    adapter = st.registry.get(job.result["model_name"])
    assert adapter.meta["method"] == "dpo" and adapter.parent.name == "tiny-word"
    assert job.result["loss_type"] == "ipo"


def test_wizard_grpo_reward_settings_reach_the_plan(qtbot, st):
    from ui.wizard import FineTuneWizard

    wiz = FineTuneWizard(st)
    qtbot.addWidget(wiz)
    wiz.show()
    assert _to_presets(qtbot, wiz, "sums", "grpo") == ["grpo"]
    preset = wiz.pages[4]
    preset.advanced.setChecked(True)
    preset.editors["rewards"].setText("exact_match, length_penalty:0.2")
    _next(qtbot, wiz)
    review = wiz.pages[5]
    qtbot.waitUntil(lambda: review.plan is not None or review.error is not None, timeout=10_000)
    assert review.error is None
    assert review.plan["config"]["rewards"] == "exact_match, length_penalty:0.2"
