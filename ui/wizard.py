"""The fine-tune wizard: base model -> dataset + version -> method -> chat template -> preset
(with an Advanced panel for every field) -> review (memory, tokens, duration) -> Launch.

Everything it decides becomes a `plan` from studio.training.TrainingService; Launch runs
`launch(plan)` (writing the data, submitting the job) on a worker thread and emits
`launched(job_id)`. The methods listed are whatever studio.training has registered, so the
preference methods appear here without changes. `prefill` (from `clone_plan`) re-opens a
finished job's settings for "Clone as new run".
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from studio.errors import StudioError
from ui.errors import report
from ui.labels import plural
from ui.model_watch import watcher_for
from ui.widgets import WARNING_STYLE, notice_label

GIB = 1024**3
SAMPLE = [{"role": "user", "content": "What is LoRA?"}, {"role": "assistant", "content": "A low-rank update of a few weight matrices."}]


def _count(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}" if n < 10 * scale else f"{n / scale:.0f}{unit}"
    return str(n)


def _gib(n: float) -> str:
    if n < GIB:
        return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"
    return f"{n / GIB:.2f} GiB" if n < 10 * GIB else f"{n / GIB:.1f} GiB"


class _Step(QWizardPage):
    """One page of the wizard: its title, its subtitle and the wizard whose `choice` it fills in."""

    def __init__(self, wiz: "FineTuneWizard", title: str, subtitle: str):
        super().__init__()
        self.wiz = wiz
        self.setTitle(title)
        self.setSubTitle(subtitle)


class BasePage(_Step):
    def __init__(self, wiz: "FineTuneWizard"):
        super().__init__(wiz, "Base model",
                         "The model to fine-tune. A base model is semi-finished: training gives it a chat format and a voice.")
        lay = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.currentRowChanged.connect(lambda _r: self.completeChanged.emit())
        lay.addWidget(self.list)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color:#555")
        lay.addWidget(self.note)
        self.list.currentItemChanged.connect(self._describe)
        watcher_for(wiz.service.studio).changed.connect(self._models_changed)

    def _models_changed(self, _changes: list) -> None:
        if self.wiz.currentPage() is self:  # later pages hold a plan built on the chosen base
            item = self.list.currentItem()
            if item is not None:
                self.wiz.prefill["base"] = item.data(Qt.ItemDataRole.UserRole)
            self.initializePage()

    def initializePage(self) -> None:  # noqa: N802
        self.list.clear()
        for m in self.wiz.service.base_models():
            size = _count(m.parameters) + " parameters" if m.parameters else "size unknown"
            fmt = "GGUF (converted to Hugging Face once, cached)" if m.format == "gguf" else "Hugging Face"
            item = QListWidgetItem(f"{m.name}\n    {m.architecture or '?'} · {size} · {fmt}")
            item.setData(Qt.ItemDataRole.UserRole, m.name)
            item.setData(Qt.ItemDataRole.UserRole + 1, (m.meta or {}).get("note", ""))
            self.list.addItem(item)
        want = self.wiz.prefill.get("base")
        rows = [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]
        self.list.setCurrentRow(rows.index(want) if want in rows else (0 if rows else -1))
        if not rows:
            self.note.setText("No base model yet: import one on the Models page (a GGUF file or a Hugging Face folder).")

    def _describe(self, item) -> None:
        if item is not None:
            self.note.setText(item.data(Qt.ItemDataRole.UserRole + 1) or "")

    def isComplete(self) -> bool:  # noqa: N802
        return self.list.currentItem() is not None

    def validatePage(self) -> bool:  # noqa: N802
        self.wiz.choice["base"] = self.list.currentItem().data(Qt.ItemDataRole.UserRole)
        return True


KIND_WORDS = {"sft": "conversations, for SFT", "preference": "preference pairs", "prompt": "prompts"}


def version_note_words(note: str | None) -> str:
    """A version's note as words; older compare-vote notes held a raw dict ("compare vote (a): {...}")."""
    import ast
    import re

    note = (note or "").strip()
    m = re.fullmatch(r"compare vote \((a|b)\)(?::\s*(\{.*\}))?", note, flags=re.S)
    if m:
        from studio.chat.service import vote_note

        try:
            meta = ast.literal_eval(m.group(2)) if m.group(2) else None
        except (ValueError, SyntaxError):
            meta = None
        return vote_note(m.group(1), meta if isinstance(meta, dict) else None)
    return note


class DatasetPage(_Step):
    def __init__(self, wiz: "FineTuneWizard"):
        super().__init__(wiz, "Dataset",
                         "The curated data to learn from. Only datasets some training method can use are listed.")
        form = QFormLayout(self)
        self.dataset = QComboBox()
        self.version = QComboBox()
        self.dataset.currentIndexChanged.connect(self._versions)
        self.version.currentIndexChanged.connect(lambda _i: self.completeChanged.emit())
        form.addRow("Dataset", self.dataset)
        form.addRow("Version", self.version)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color:#555")
        form.addRow(self.info)
        self._all: list[dict] = []

    def initializePage(self) -> None:  # noqa: N802
        seen: dict[str, dict] = {}
        for m in self.wiz.service.methods():
            for d in self.wiz.service.datasets_for(m.name):
                seen[d["name"]] = d
        self._all = sorted(seen.values(), key=lambda d: d["name"])
        # datasets the chosen (or default, SFT) method trains on come first, and the first is the default
        method = self.wiz.prefill.get("method") or "sft"
        fits = {d["name"] for d in self.wiz.service.datasets_for(method)} if method in {m.name for m in self.wiz.service.methods()} else set()
        self._all.sort(key=lambda d: d["name"] not in fits)
        self.dataset.blockSignals(True)
        self.dataset.clear()
        for d in self._all:
            self.dataset.addItem(f"{d['name']}  ({KIND_WORDS.get(d['kind'], d['kind'])})", d["name"])
        self.dataset.blockSignals(False)
        want = self.wiz.prefill.get("dataset")
        names = [d["name"] for d in self._all]
        self.dataset.setCurrentIndex(names.index(want) if want in names else 0)
        self._versions()
        if not self._all:
            self.info.setText("No dataset yet: import one on the Datasets page.")

    def _versions(self) -> None:
        self.version.clear()
        i = self.dataset.currentIndex()
        if i < 0 or i >= len(self._all):
            return
        d = self._all[i]
        for v in d["versions"]:
            note = version_note_words(v["note"])
            self.version.addItem(f"v{v['version']} · {plural(v['rows'], 'row')}" + (f" · {note}" if note else ""), v["version"])
            self.version.setItemData(self.version.count() - 1, note or "", Qt.ItemDataRole.ToolTipRole)
        want = self.wiz.prefill.get("version") if self.wiz.prefill.get("dataset") == d["name"] else None
        versions = [v["version"] for v in d["versions"]]
        self.version.setCurrentIndex(versions.index(want) if want in versions else 0)
        kinds = {m.label for m in self.wiz.service.methods() if d["kind"] in m.dataset_kinds}
        self.info.setText(f"{d['kind']} rows, for: {', '.join(sorted(kinds))}.")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return self.dataset.currentIndex() >= 0 and self.version.currentIndex() >= 0

    def validatePage(self) -> bool:  # noqa: N802
        d = self._all[self.dataset.currentIndex()]
        self.wiz.choice.update(dataset=d["name"], version=self.version.currentData(), kind=d["kind"])
        return True


class MethodPage(_Step):
    def __init__(self, wiz: "FineTuneWizard"):
        super().__init__(wiz, "Method", "How to learn from this data.")
        self.lay = QVBoxLayout(self)
        self.group = QButtonGroup(self)
        self.group.buttonToggled.connect(lambda *_: self.completeChanged.emit())
        self._buttons: list[tuple[QRadioButton, str]] = []

    def initializePage(self) -> None:  # noqa: N802
        for b, _ in self._buttons:
            self.group.removeButton(b)
            b.deleteLater()
        while self.lay.count():
            w = self.lay.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self._buttons = []
        want = self.wiz.prefill.get("method") or "sft"
        for m in self.wiz.service.methods():
            if self.wiz.choice.get("kind") not in m.dataset_kinds:
                continue
            b = QRadioButton(m.label)
            desc = QLabel(m.description)
            desc.setWordWrap(True)
            desc.setStyleSheet("color:#555; margin-left: 22px")
            self.group.addButton(b)
            self.lay.addWidget(b)
            self.lay.addWidget(desc)
            self._buttons.append((b, m.name))
            if m.name == want or len(self._buttons) == 1:
                b.setChecked(True)
        self.lay.addStretch(1)

    def isComplete(self) -> bool:  # noqa: N802
        return any(b.isChecked() for b, _ in self._buttons)

    def validatePage(self) -> bool:  # noqa: N802
        self.wiz.choice["method"] = next(name for b, name in self._buttons if b.isChecked())
        return True


class TemplatePage(_Step):
    def __init__(self, wiz: "FineTuneWizard"):
        super().__init__(wiz, "Chat template",
                         "The turn format the model learns. The same template, BOS included, is saved with the adapter and used in chat.")
        lay = QVBoxLayout(self)
        self.combo = QComboBox()
        self.combo.currentIndexChanged.connect(self._preview)
        lay.addWidget(self.combo)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color:#555")
        lay.addWidget(self.notes)
        lay.addWidget(QLabel("Preview (a row of your dataset, as the model sees it):"))
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setObjectName("templatePreview")
        lay.addWidget(self.preview, 1)
        self._sample = SAMPLE

    def initializePage(self) -> None:  # noqa: N802
        from engines.templates import TEMPLATES, default_template_for

        base = self.wiz.service.studio.registry.get(self.wiz.choice["base"])
        self.combo.blockSignals(True)
        self.combo.clear()
        for name, t in TEMPLATES.items():
            self.combo.addItem(t.label, name)
        if base.chat_template:
            self.combo.addItem("The model's own", "model")
        self.combo.blockSignals(False)
        want = self.wiz.prefill.get("template") or default_template_for(base.architecture)
        idx = self.combo.findData(want)
        self.combo.setCurrentIndex(idx if idx >= 0 else 0)
        self._sample = self._first_row() or SAMPLE
        self._preview()

    def _first_row(self) -> list[dict] | None:
        from studio.datasets.rows import iter_rows, resolve_version

        try:
            v = resolve_version(self.wiz.service.db, self.wiz.choice["dataset"], self.wiz.choice.get("version"))
            row = next(iter_rows(self.wiz.service.db, v.id, batch=1), None)
        except StudioError:
            return None
        if not row:
            return None
        if "messages" in row:
            return row["messages"]
        if "prompt" in row and isinstance(row.get("completion"), str):
            return [{"role": "user", "content": str(row["prompt"])}, {"role": "assistant", "content": row["completion"]}]
        if "prompt" in row and isinstance(row["prompt"], str):
            return [{"role": "user", "content": row["prompt"]}]
        return None

    def _preview(self) -> None:
        from engines.templates import TEMPLATES, inference_template, render

        name = self.combo.currentData()
        if name is None:
            return
        if name == "model":
            text = inference_template(self.wiz.service.studio.registry.get(self.wiz.choice["base"]).chat_template or "")
            self.notes.setText("The chat template stored in the base model.")
        else:
            text = TEMPLATES[name].inference
            self.notes.setText(TEMPLATES[name].notes)
        try:
            self.preview.setPlainText(render(text, self._sample, bos_token="<bos>", eos_token="<eos>"))
        except Exception as e:  # noqa: BLE001 - a template that cannot render this row says why
            self.preview.setPlainText(f"This template cannot render the first row: {e}")

    def validatePage(self) -> bool:  # noqa: N802
        self.wiz.choice["template"] = self.combo.currentData()
        return True


class PresetPage(_Step):
    def __init__(self, wiz: "FineTuneWizard"):
        super().__init__(wiz, "Preset", "Start from a preset; open Advanced to change any setting.")
        lay = QVBoxLayout(self)
        self.group = QButtonGroup(self)
        self.preset_box = QVBoxLayout()
        lay.addLayout(self.preset_box)
        self.advanced = QGroupBox("Advanced")
        self.advanced.setCheckable(True)
        self.advanced.setChecked(False)
        adv = QVBoxLayout(self.advanced)
        self.advanced_hint = QLabel(  # an unticked panel says what it holds, never an empty box
            "Tick Advanced to see every setting the preset fills in (steps, learning rate, LoRA rank, "
            "batch size, sequence length, …) and change any of them. Hover a field for what it does.")
        self.advanced_hint.setObjectName("advancedHint")
        self.advanced_hint.setWordWrap(True)
        self.advanced_hint.setStyleSheet("color: palette(placeholder-text);")
        adv.addWidget(self.advanced_hint)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        adv.addWidget(self.scroll)
        self.advanced.toggled.connect(self.scroll.setVisible)
        self.advanced.toggled.connect(lambda on: self.advanced_hint.setVisible(not on))
        self.scroll.setVisible(False)
        lay.addWidget(self.advanced)
        lay.addStretch(1)  # the closed panel keeps its height; open, it takes the room
        self.advanced.toggled.connect(lambda on: (lay.setStretchFactor(self.advanced, int(on)),
                                                  lay.setStretch(lay.count() - 1, int(not on))))
        self.editors: dict[str, QWidget] = {}
        self._method: str | None = None
        self._buttons: dict[str, QRadioButton] = {}

    def initializePage(self) -> None:  # noqa: N802
        from studio.training import MANAGED_FIELDS, get_method

        m = get_method(self.wiz.choice["method"])
        if self._method != m.name:
            self._method = m.name
            for b in self._buttons.values():
                self.group.removeButton(b)
                b.deleteLater()
            while self.preset_box.count():
                w = self.preset_box.takeAt(0).widget()
                if w is not None:
                    w.deleteLater()
            self._buttons = {}
            for name, p in m.presets.items():
                b = QRadioButton(f"{p['label']} — {p['description']}")
                self.group.addButton(b)
                self.preset_box.addWidget(b)
                self._buttons[name] = b
                b.toggled.connect(lambda on, n=name: on and self._apply_preset(n))
            host = QWidget()
            form = QFormLayout(host)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            self.editors = {}
            for f in fields(m.config_cls):
                if f.name in MANAGED_FIELDS:
                    continue
                default = f.default
                if isinstance(default, bool):
                    w: QWidget = QCheckBox()
                    w.setChecked(default)
                elif isinstance(default, int):
                    w = QSpinBox()
                    w.setRange(-1, 10_000_000)
                    w.setValue(default)
                else:
                    w = QLineEdit(str(default))
                w.setToolTip(f.metadata.get("help", ""))
                label = QLabel(f.name)
                label.setToolTip(f.metadata.get("help", ""))
                form.addRow(label, w)
                self.editors[f.name] = w
            self.scroll.setWidget(host)
        want = self.wiz.choice.get("preset") or "quick"
        (self._buttons.get(want) or next(iter(self._buttons.values()))).setChecked(True)
        self._apply_preset(want if want in self._buttons else next(iter(self._buttons)))
        if self.wiz.prefill.get("overrides"):
            self.set_values(self.wiz.prefill["overrides"])
            self.advanced.setChecked(True)

    def _apply_preset(self, name: str) -> None:
        from studio.training import get_method

        m = get_method(self.wiz.choice["method"])
        defaults = {f.name: f.default for f in fields(m.config_cls)}
        self.set_values({**defaults, **m.presets[name]["config"]})
        self.wiz.choice["preset"] = name

    def set_values(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            w = self.editors.get(k)
            if isinstance(w, QCheckBox):
                w.setChecked(bool(v))
            elif isinstance(w, QSpinBox):
                w.setValue(int(v))
            elif isinstance(w, QLineEdit):
                w.setText(str(v))

    def values(self) -> dict[str, Any]:
        from studio.training import coerce, get_method

        m = get_method(self.wiz.choice["method"])
        defaults = {f.name: f.default for f in fields(m.config_cls)}
        out: dict[str, Any] = {}
        for k, w in self.editors.items():
            if isinstance(w, QCheckBox):
                out[k] = w.isChecked()
            elif isinstance(w, QSpinBox):
                out[k] = w.value()
            else:
                out[k] = coerce(w.text().strip(), defaults[k], k)
        return out

    def validatePage(self) -> bool:  # noqa: N802
        try:
            self.wiz.choice["overrides"] = self.values()
        except StudioError as e:
            report(e)
            return False
        return True


class ReviewPage(_Step):
    def __init__(self, wiz: "FineTuneWizard"):
        super().__init__(wiz, "Review and launch", "What will run, what it needs and how long it should take.")
        lay = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.summary)
        mem = QGroupBox("Memory estimate")
        grid = QGridLayout(mem)
        self.mem_labels: dict[str, QLabel] = {}
        for row, (key, title) in enumerate([("weights_bytes", "Weights"), ("lora_bytes", "LoRA weights + gradients"),
                                            ("optimizer_bytes", "Optimizer (AdamW)"), ("activation_bytes", "Activations"),
                                            ("total_bytes", "Total")]):
            grid.addWidget(QLabel(title), row, 0)
            lab = QLabel("…")
            lab.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(lab, row, 1)
            self.mem_labels[key] = lab
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        grid.addWidget(self.bar, 5, 0, 1, 2)
        self.device = QLabel("Detecting the device…")
        self.device.setWordWrap(True)
        grid.addWidget(self.device, 6, 0, 1, 2)
        lay.addWidget(mem)
        self.run_info = QLabel()
        self.run_info.setWordWrap(True)
        lay.addWidget(self.run_info)
        self.warning = notice_label(WARNING_STYLE)
        lay.addWidget(self.warning)
        lay.addStretch(1)
        self.plan: dict | None = None
        self.estimate: dict | None = None
        self.error: str | None = None

    def initializePage(self) -> None:  # noqa: N802
        c = self.wiz.choice
        self.plan, self.error, self.estimate = None, None, None
        try:
            self.plan = self.wiz.service.plan(
                c["method"], base=c["base"], dataset=c["dataset"], version=c.get("version"), preset=c.get("preset", "quick"),
                overrides=c.get("overrides") or {}, template=c.get("template"),
            )
        except StudioError as e:
            self.error = e.message + (f" ({e.hint})" if e.hint else "")
        if self.plan is None:
            self.summary.setText(f"<b style='color:#b00020'>This run cannot start:</b> {self.error}")
            self.completeChanged.emit()
            return
        p, cfg = self.plan, self.plan["config"]
        length = f"{cfg['max_steps']} steps" if cfg.get("max_steps", -1) > 0 else f"{cfg.get('epochs', 1)} epoch(s)"
        self.summary.setText(
            f"<b>{p['name']}</b><br>base <b>{p['base_model']}</b> · dataset <b>{p['dataset']} v{p['dataset_version']}</b> "
            f"({p['rows']:,} rows) · template <b>{p['template']}</b><br>"
            f"preset {p['preset']} · LoRA r={cfg.get('lora_r')} α={cfg.get('lora_alpha')} · lr {cfg.get('learning_rate')} · "
            f"batch {cfg.get('batch_size')}×{cfg.get('gradient_accumulation_steps', 1)} · max length {cfg.get('max_length')} · {length}"
        )
        from ui.dataset_table import run_in_thread

        from studio.training.estimates import review_estimate

        run_in_thread(review_estimate, self.wiz.service, self.plan, on_done=self._show_estimate, owner=self.wiz)
        self.completeChanged.emit()

    def _show_estimate(self, est: dict) -> None:
        self.estimate = est
        for key, lab in self.mem_labels.items():
            lab.setText(_gib(est[key]))
        free = max(est["free_bytes"], 1)
        pct = int(100 * est["total_bytes"] / free)
        self.bar.setValue(min(pct, 100))
        self.bar.setFormat(f"{_gib(est['total_bytes'])} of {_gib(free)} free ({pct}%)")
        self.bar.setStyleSheet("QProgressBar::chunk { background: %s; }" % ("#e53935" if not est["fits"] else "#43a047"))
        self.device.setText(f"Device: {est['device']['description']}")
        conversion = est.get("conversion_seconds") or 0
        duration = f"estimated duration <b>{_duration(est['seconds'])}</b>"
        if conversion:
            duration += (f": {_duration(est['training_seconds'])} of training plus about {_duration(conversion)} to convert "
                         "the GGUF base to Hugging Face format once (cached for later runs)")
        self.run_info.setText(
            f"About <b>{est['tokens']:,}</b> tokens over <b>{plural(est['steps'], 'step')}</b>; {duration}. "
            f"LoRA trains <b>{est['lora_parameters']:,}</b> parameters (the count the trainer reports)."
        )
        self.warning.setText("⚠ " + est["warning"] if est["warning"] else "")
        self.warning.setVisible(bool(est["warning"]))

    def isComplete(self) -> bool:  # noqa: N802
        return self.plan is not None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class FineTuneWizard(QWizard):
    """Emits launched(job_id) once the job is queued."""

    launched = Signal(int)

    def __init__(self, studio, parent=None, prefill: dict | None = None):
        super().__init__(parent)
        from studio.training import TrainingService

        self.service = TrainingService(studio)
        self.prefill = dict(prefill or {})
        self.choice: dict[str, Any] = {}
        self._workers: set = set()
        parent_job = self.prefill.get("parent_job_id")
        self.setWindowTitle(f"Clone job {parent_job} as a new run" if parent_job else "New fine-tune")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setMinimumSize(760, 600)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Launch")
        self.pages = [BasePage(self), DatasetPage(self), MethodPage(self), TemplatePage(self), PresetPage(self), ReviewPage(self)]
        for p in self.pages:
            self.addPage(p)
        self.job_id: int | None = None

    @property
    def review(self) -> ReviewPage:
        return self.pages[-1]

    def accept(self) -> None:
        plan = self.review.plan
        if plan is None:
            return
        self.button(QWizard.WizardButton.FinishButton).setEnabled(False)
        self.review.run_info.setText("Preparing the data and queueing the job…")
        from ui.dataset_table import run_in_thread

        parent_job = self.prefill.get("parent_job_id")
        run_in_thread(lambda: self.service.launch(plan, parent_job_id=parent_job), on_done=self._launched,
                      on_error=self._failed, owner=self)

    def _launched(self, job_id: int) -> None:
        self.job_id = job_id
        self.launched.emit(job_id)
        super().accept()

    def _failed(self, exc: BaseException) -> None:
        self.button(QWizard.WizardButton.FinishButton).setEnabled(True)
        report(exc)
