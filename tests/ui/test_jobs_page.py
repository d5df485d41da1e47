"""The Jobs page reads events from the database, so it follows a job whichever process runs it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from studio.db import Job, JobEvent

from tests.ui.shots import SHOTS  # a temp folder unless `make screenshots`


def add_job(studio, **kw) -> int:
    with studio.db.session() as s:
        job = Job(kind=kw.pop("kind", "sft"), name=kw.pop("name", "SFT · tiny · adds v1"), **kw)
        s.add(job)
        s.flush()
        return job.id


def add_events(studio, job_id: int, events: list[dict], start_seq: int = 1) -> None:
    with studio.db.session() as s:
        for i, e in enumerate(events):
            data = {k: v for k, v in e.items() if k != "type"}
            s.add(JobEvent(job_id=job_id, seq=start_seq + i, type=e["type"], ts=time.time(), data=data))


def test_every_numeric_metric_gets_a_chart_and_warnings_and_samples_show(qtbot, studio):
    from ui.jobs_page import JobsPage

    job_id = add_job(studio, state="running", step=3, total=10, kind="grpo", name="GRPO · tiny · prompts v1")
    add_events(studio, job_id, [
        {"type": "progress", "step": s, "total": 10, "loss": 2.0 / s, "learning_rate": 1e-4, "grad_norm": 0.5,
         "reward_mean": 0.1 * s, "kl": 0.01 * s, "samples_per_s": 2.0, "tokens_per_s": 300.0, "eta_s": 42.0}
        for s in (1, 2, 3)
    ] + [
        {"type": "warning", "message": "Reward rose 40% while answers doubled in length: possible reward hacking"},
        {"type": "samples", "step": 3, "samples": [{"prompt": "2+2?", "completion": "4", "reward": 1.0},
                                                   {"prompt": "3+3?", "completion": "six six six", "reward": 0.2}]},
    ])
    page = JobsPage(studio)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=5000)
    assert page.table.item(0, 3).text() == "running"
    assert "42 s" == page.table.item(0, 5).text() and "300 tok/s" in page.table.item(0, 6).text()
    page.select_job(job_id)
    expected = {"loss", "learning_rate", "grad_norm", "reward_mean", "kl", "samples_per_s", "tokens_per_s"}
    qtbot.waitUntil(lambda: set(page.chart_names()) == expected, timeout=5000)
    assert page.chart_points("loss") == [(1.0, 2.0), (2.0, 1.0), (3.0, pytest.approx(2 / 3))]
    assert page.banner.isVisibleTo(page)
    assert "reward hacking" in page.banner.text()
    assert page.samples.rowCount() == 2 and page.samples.item(1, 1).text() == "six six six"
    assert page.samples_stack.currentWidget() is page.samples

    # more events written by "another process": the page picks them up on its own
    add_events(studio, job_id, [{"type": "progress", "step": 4, "total": 10, "loss": 0.4, "kl": 0.05}], start_seq=6)
    qtbot.waitUntil(lambda: len(page.chart_points("loss")) == 4, timeout=5000)
    assert page.cancel_btn.isEnabled() and not page.resume_btn.isEnabled()
    page.shutdown()


def test_empty_samples_tab_says_which_runs_sample_and_when(qtbot, studio):
    from ui.jobs_page import JobsPage

    sft = add_job(studio, state="succeeded")
    grpo = add_job(studio, state="running", kind="grpo", name="GRPO · tiny · prompts v1",
                   config={"monitors": {"sample_every": 7, "samples_per_log": 3}})
    page = JobsPage(studio)
    qtbot.addWidget(page)
    page.tabs.setCurrentIndex(1)
    assert page.samples_stack.currentWidget() is page.samples_empty
    assert "DPO and GRPO runs show sample completions" in page.samples_empty.text()
    page.select_job(sft)
    qtbot.waitUntil(lambda: page.samples_empty.text().startswith("SFT runs log no samples"), timeout=5000)
    assert "Train page" in page.samples_empty.text()
    page.select_job(grpo)
    qtbot.waitUntil(lambda: "every 7 steps" in page.samples_empty.text(), timeout=5000)
    assert "3 completions of held-out prompts" in page.samples_empty.text()
    assert page.samples_stack.currentWidget() is page.samples_empty and page.samples.rowCount() == 0
    add_events(studio, grpo, [{"type": "samples", "step": 7, "samples": [{"prompt": "1+1?", "completion": "2", "reward": 1.0}]}])
    qtbot.waitUntil(lambda: page.samples_stack.currentWidget() is page.samples, timeout=5000)
    assert page.tabs.tabText(1) == "Samples (1)"
    page.shutdown()


def test_failed_job_shows_its_error_and_hint_and_offers_resume(qtbot, studio):
    from ui.jobs_page import JobsPage

    job_id = add_job(studio, state="failed", error="The GPU ran out of memory at batch size 16 and max length 2048",
                     hint="use a smaller batch size, a shorter max length, gradient checkpointing or QLoRA")
    page = JobsPage(studio)
    qtbot.addWidget(page)
    page.select_job(job_id)
    qtbot.waitUntil(lambda: page.error_label.text() != "", timeout=5000)
    assert "ran out of memory" in page.error_label.text() and "QLoRA" in page.error_label.text()
    assert page.resume_btn.isEnabled() and not page.cancel_btn.isEnabled()
    page.shutdown()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from tests.helpers.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "llama")


def test_live_curves_cancel_and_resume_of_a_real_training_job(qtbot, studio, tiny_dir):
    from studio.datasets.rows import append_rows
    from studio.training import TrainingService
    from ui.jobs_page import JobsPage

    studio.registry.import_path(tiny_dir, name="tiny")
    rows = [{"messages": [{"role": "user", "content": f"add {i} and {i + 1}"}, {"role": "assistant", "content": f"ANSWER: {2 * i + 1}"}]}
            for i in range(24)]
    append_rows(studio.db, "adds", "sft", rows)
    svc = TrainingService(studio)
    plan = svc.plan("sft", base="tiny", dataset="adds", overrides={"max_steps": 60, "save_steps": 3, "learning_rate": 5e-3,
                                                                  "max_length": 64, "eval_fraction": 0.2, "eval_steps": 3})
    job_id = svc.launch(plan)
    studio.jobs.try_become_runner()
    page = JobsPage(studio)
    qtbot.addWidget(page)
    page.resize(1200, 820)
    page.show()
    page.select_job(job_id)
    qtbot.waitUntil(lambda: "loss" in page.chart_names() and len(page.chart_points("loss")) >= 6, timeout=120_000)
    qtbot.waitUntil(lambda: {"loss", "learning_rate", "grad_norm", "eval_loss"} <= set(page.chart_names()), timeout=5000)
    page.tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: "samples/s" in page.table.item(0, 6).text() and page.table.item(0, 5).text() != "—", timeout=10_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.grab().save(str(SHOTS / "jobs-page-training.png"))

    qtbot.mouseClick(page.cancel_btn, __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: studio.jobs.get(job_id).state == "cancelled", timeout=60_000)
    qtbot.waitUntil(lambda: page.resume_btn.isEnabled(), timeout=5000)
    before = len(page.chart_points("loss"))
    page.resume_btn.click()
    qtbot.waitUntil(lambda: len(page.chart_points("loss")) >= before + 3, timeout=120_000)
    steps = [x for x, _ in page.chart_points("loss")]
    assert steps[before] == steps[before - 1] + 1  # resumed at the next step, not from 1
    assert "resuming from checkpoint-" in page.log.toPlainText()
    studio.jobs.cancel(job_id)
    studio.jobs.wait(job_id, timeout=60)
    page.shutdown()


def test_main_window_builds_the_train_and_jobs_pages(qtbot, studio, tmp_path):
    from PySide6.QtCore import QSettings

    from ui.jobs_page import JobsPage
    from ui.main_window import MainWindow
    from ui.train_page import TrainPage

    win = MainWindow(studio, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    assert isinstance(win.page("train"), TrainPage)
    assert isinstance(win.page("jobs"), JobsPage)
    assert isinstance(win.show_page("jobs"), JobsPage)
    win.close()


def test_a_flat_metric_is_charted_around_its_value(qtbot, studio):
    """A constant learning rate of 1e-4 read as a line at 0 on a -0.5..0.5 axis; the axis now
    centres on the value, and a series that starts to vary gets its range from its data again."""
    from ui.jobs_page import JobsPage

    job_id = add_job(studio, state="running", step=3, total=10)
    add_events(studio, job_id, [{"type": "progress", "step": s, "total": 10, "learning_rate": 1e-4, "loss": 2.0 / s}
                                for s in (1, 2, 3)])
    page = JobsPage(studio)
    qtbot.addWidget(page)
    page.resize(1000, 800)
    page.show()  # pyqtgraph ranges a view from its data when it is laid out
    qtbot.waitUntil(lambda: page.table.rowCount() == 1, timeout=5000)
    page.select_job(job_id)
    qtbot.waitUntil(lambda: "learning_rate" in page.chart_names() and len(page.chart_points("learning_rate")) == 3,
                    timeout=5000)
    lo, hi = page._charts["learning_rate"].plot.getViewBox().viewRange()[1]
    assert lo < 1e-4 < hi and hi - lo < 1e-3
    add_events(studio, job_id, [{"type": "progress", "step": 4, "total": 10, "learning_rate": 0.5, "loss": 0.4}], start_seq=4)
    qtbot.waitUntil(lambda: len(page.chart_points("learning_rate")) == 4, timeout=5000)
    qtbot.waitUntil(lambda: page._charts["learning_rate"].plot.getViewBox().viewRange()[1][1] >= 0.5, timeout=5000)


def test_charts_keep_the_order_the_job_logged(qtbot, studio):
    """SFT: loss curves first. GRPO logs reward, solved share and monitors first (the engine's
    reading order): the grid keeps that order, so the no-signal chart is not below the fold."""
    from ui.jobs_page import JobsPage

    sft = add_job(studio, state="running", step=2, total=10)
    add_events(studio, sft, [{"type": "progress", "step": s, "total": 10, "grad_norm": 0.5, "mean_token_accuracy": 0.4,
                              "learning_rate": 1e-4, "loss": 2.0 / s} for s in (1, 2)])
    grpo = add_job(studio, state="running", step=2, total=10, kind="grpo", name="GRPO")
    add_events(studio, grpo, [{"type": "progress", "step": s, "total": 10, "reward": 0.1 * s, "solved": 0.2,
                               "monitor/no_signal_share": 0.9, "loss": 0.01, "learning_rate": 1e-4} for s in (1, 2)])
    page = JobsPage(studio)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.table.rowCount() == 2, timeout=5000)

    def grid() -> list[str]:
        names = {id(c): k for k, c in page._charts.items()}
        cells = [(page.charts_grid.getItemPosition(page.charts_grid.indexOf(c))[:2], id(c)) for c in page._charts.values()]
        return [names[i] for _pos, i in sorted(cells)]

    page.select_job(sft)
    qtbot.waitUntil(lambda: len(page.chart_names()) == 4, timeout=5000)
    assert grid() == ["loss", "learning_rate", "grad_norm", "mean_token_accuracy"]
    page.select_job(grpo)
    qtbot.waitUntil(lambda: len(page.chart_names()) == 5, timeout=5000)
    assert grid() == ["reward", "solved", "monitor/no_signal_share", "loss", "learning_rate"]
