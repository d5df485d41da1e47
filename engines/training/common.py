"""What every training method (SFT, reward, DPO, GRPO) shares: load, adapt, watch, save.

- `choose_device(precision)`: cuda with bf16/fp16 autocast, or cpu in fp32.
- `load_base(model_dir, template, ...)`: a Hugging Face base model + tokenizer, with the chosen
  chat template (its *training* form) installed on the tokenizer and a pad token set.
- `lora_config(...)`: peft's LoraConfig from TrainingConfig's LoRA fields.
- `score_labelled_positions_only()`: trl's fused LM head, on CPU, projects only the positions
  that have a label (the loss and its gradients are the same; a step takes about 0.6x the time).
- `StudioCallback`: a TrainerCallback that turns trainer logs into `progress` events (with every
  numeric metric, samples/s, tokens/s and an ETA), honours `should_stop()` by saving a checkpoint
  and stopping, and moves each checkpoint from the trainer's staging folder to
  `checkpoints/checkpoint-<step>` with one rename, so a half-written checkpoint is never seen.
- `train_with_recovery(trainer, resume_from)`: trainer.train() with optimizer and scheduler state
  restored from a checkpoint, and CUDA OOM / disk full turned into a TrainingError with a hint.
- `finish_adapter(...)`: saves the adapter, the tokenizer with the *inference* template and a
  `studio_adapter.json` describing how it was made; `save_result` does that on the main process
  and records it in the result that `run_result` builds.

Engines never import the studio: results and errors are plain data and plain exceptions.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Emit = Callable[..., None]  # emit(type: str, **data)
ShouldStop = Callable[[], bool]

STAGING = ".staging"  # the trainer writes checkpoints here; jobkit never looks inside
ADAPTER_META = "studio_adapter.json"


class TrainingError(Exception):
    """A failure the user can act on; `message` and `hint` reach the Jobs page as they are."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


# ---- configs (the configs themselves: engines/training/config.py) ------------------------------
def check(cond: bool, message: str, hint: str | None = None) -> None:
    """Validation in a config's __post_init__."""
    if not cond:
        raise TrainingError(message, hint)


def lower_priority(niceness: int = 10) -> None:
    """A job child yields the CPU to the window: on a 2-core machine an unniced trainer makes the
    GUI wait for a core (measured: p99 event-loop stall 83 ms). Idle cores still go to training."""
    try:
        os.nice(niceness)
    except (AttributeError, OSError):  # not on this OS, or not allowed: train at normal priority
        pass


# ---- device ------------------------------------------------------------------------------------
def choose_device(precision: str = "auto") -> tuple[str, str]:
    """(device, precision): cuda prefers bf16, else fp16; cpu trains in fp32."""
    import torch

    if torch.cuda.is_available():
        if precision == "auto":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "cuda", precision
    if precision in ("auto", "bf16", "fp16"):
        precision = "fp32"  # half precision on CPU is slower and less stable than fp32
    return "cpu", precision


def bitsandbytes_available() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except Exception:  # noqa: BLE001 - missing or broken (no CUDA): QLoRA is simply not offered
        return False
    import torch

    return torch.cuda.is_available()


# ---- model and tokenizer ------------------------------------------------------------------------
def resolve_template(name: str, text: str | None, tokenizer) -> str:
    """The *training* form of the template: a named one, the given text, or the model's own."""
    from engines.templates import TEMPLATES, get_template

    if text:
        return text
    if name in TEMPLATES:
        return get_template(name).training
    if name == "model":
        own = getattr(tokenizer, "chat_template", None)
        if not own:
            raise TrainingError(
                "This base model has no chat template of its own",
                hint="pick the Gemma, ChatML or Llama 3 template",
            )
        return own
    get_template(name)  # raises with the list of names
    return ""


def ensure_hf_base(model_dir: str | os.PathLike, gguf: str | None, emit: Emit) -> None:
    """Convert a GGUF base into model_dir on first use (dequantised, cached, safe to race)."""
    if not gguf or (Path(model_dir) / "config.json").exists():
        return
    from engines.conversion.gguf_to_hf import ConversionError, convert_gguf_to_hf

    emit("log", message=f"converting {Path(gguf).name} to a Hugging Face model once (about a minute)")
    try:
        convert_gguf_to_hf(gguf, model_dir, log=lambda m: emit("log", message=str(m)))
    except ConversionError as e:
        raise TrainingError(e.message, e.hint) from e


def load_base(
    model_dir: str | os.PathLike,
    *,
    template: str,
    template_text: str | None = None,
    precision: str = "auto",
    qlora: bool = False,
    gradient_checkpointing: bool = False,
    model_cls: str = "causal-lm",
    num_labels: int = 1,
):
    """Load the base model and tokenizer for training. Returns (model, tokenizer, info)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise TrainingError(
            f"{model_dir} is not a Hugging Face model directory (no config.json)",
            hint="convert a GGUF base first; the studio does this when it builds the job",
        )
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("quantization_config") and not qlora:
        raise TrainingError(
            f"{model_dir} holds a quantised model, which plain LoRA cannot train",
            hint="use the dequantised (converted) copy of the base, or QLoRA on a CUDA GPU",
        )
    device, precision = choose_device(precision)
    if model_cls == "causal-lm":
        score_labelled_positions_only()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = resolve_template(template, template_text, tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if qlora:
        if not bitsandbytes_available():
            raise TrainingError(
                "QLoRA needs a CUDA GPU and the bitsandbytes package",
                hint="turn QLoRA off, or install bitsandbytes on a machine with CUDA",
            )
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype, bnb_4bit_use_double_quant=True
        )
    cls = AutoModelForSequenceClassification if model_cls == "sequence-classification" else AutoModelForCausalLM
    if model_cls == "sequence-classification":
        kwargs["num_labels"] = num_labels
    try:
        model = cls.from_pretrained(model_dir, **kwargs)
    except (OSError, ValueError) as e:
        raise TrainingError(f"Could not load the base model from {model_dir}: {e}", hint="check that the model directory is complete") from e
    if model_cls == "sequence-classification" and model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if model_cls == "causal-lm":
        stop_at_end_of_turn(model, tokenizer)
    if qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    info = {"device": device, "precision": precision, "parameters": sum(p.numel() for p in model.parameters())}
    return model, tokenizer, info


def score_labelled_positions_only() -> bool:
    """Make trl's fused LM head score only the positions whose label is not -100 on CPU and MPS.

    Every trl trainer the studio runs (SFT, DPO, GRPO) computes its per-token log-probabilities
    with `add_fused_lm_head`, which projects the hidden states through the LM head in vocabulary
    tiles. On Triton devices it projects only the labelled positions; elsewhere it projects every
    position and masks the result, because on a compiling backend (Neuron, XLA) a varying count of
    positions would recompile each batch. Eager CPU and MPS do not recompile, and gemma-3's LM head
    (262,144 x 640) is about half a step's compute, spent on prompts and padding whose labels are
    -100. The projected rows are the same either way, so the loss, its gradients and the metrics
    are too (tests/engines/test_compact_lm_head.py); a gemma-3-270m SFT step takes about 0.6x the
    time (bench/compact_lm_head.py, bench/RESULTS.md).

    trl decides through its module-level `_use_triton(device)`; this wraps that one name in
    `trl.trainer.utils`, leaving the kernel choice (`trl.kernels`) alone. Returns whether the
    wrapper is in place (False when this trl has no such hook: training still works, unchanged).
    """
    try:
        from trl.trainer import utils as trl_utils
    except ImportError:
        return False
    decide = getattr(trl_utils, "_use_triton", None)
    if decide is None:
        return False
    if getattr(decide, "studio_compact", False):
        return True

    def compact_on_eager(device) -> bool:
        return getattr(device, "type", None) in ("cpu", "mps") or decide(device)

    compact_on_eager.studio_compact = True
    compact_on_eager.original = decide
    trl_utils._use_triton = compact_on_eager
    return True


END_OF_TURN_TOKENS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>")


def stop_at_end_of_turn(model, tokenizer) -> list[int]:
    """Make generation (GRPO rollouts, samples) stop at the chat template's end-of-turn token.

    A GGUF-converted base lists only `<eos>` in its generation config, while a Gemma turn ends
    with `<end_of_turn>`: rollouts then ran on to the length limit, were clipped, and the
    rewards read text past the answer. Returns the eos ids now in use."""
    gc = model.generation_config
    ids = gc.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    template = tokenizer.chat_template or ""
    for tok in END_OF_TURN_TOKENS:
        tid = tokenizer.convert_tokens_to_ids(tok) if tok in template else None
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid not in ids:
            ids.append(tid)
    gc.eos_token_id = ids or None
    return ids


SAMPLE_CHAT = [  # strictly alternating: Gemma-style templates reject anything else
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Goodbye."},
]


def verify_template(tokenizer, training: str, inference: str, messages: list[dict] | None = None) -> None:
    """The guard against the most common broken fine-tune: what the model is trained on must be
    token for token what it is prompted with at inference, starting with BOS.

    Renders `messages` with the training template (as trl does, no special tokens added) and
    the inference template, and compares the token ids; checks that the first token is BOS."""
    msgs = messages or SAMPLE_CHAT
    bos = tokenizer.bos_token or ""
    kw = dict(bos_token=bos, eos_token=tokenizer.eos_token or "")
    from engines.templates import render

    text_train = render(training, msgs, **kw)
    text_infer = render(inference, msgs[:-1], add_generation_prompt=True, **kw)
    ids_train = tokenizer(text_train, add_special_tokens=False)["input_ids"]
    ids_infer = tokenizer(text_infer, add_special_tokens=False)["input_ids"]
    if ids_train[: len(ids_infer)] != ids_infer:
        at = next((i for i, (a, b) in enumerate(zip(ids_train, ids_infer)) if a != b), min(len(ids_train), len(ids_infer)))
        raise TrainingError(
            f"The inference chat template does not reproduce the training prompt (tokens differ from position {at}: "
            f"{tokenizer.decode(ids_train[at:at + 8])!r} vs {tokenizer.decode(ids_infer[at:at + 8])!r})",
            hint="store and use the same template for training and inference",
        )
    if bos and tokenizer.bos_token_id is not None and (not ids_train or ids_train[0] != tokenizer.bos_token_id):
        raise TrainingError(
            "The chat template does not start with the BOS token, so the model would train without it "
            "while llama.cpp adds it at inference",
            hint="begin the template with {{ bos_token }}",
        )


def lora_config(r: int, alpha: int, dropout: float, target_modules, task_type: str = "CAUSAL_LM"):
    from peft import LoraConfig

    targets = target_modules
    if isinstance(targets, str) and targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type=task_type, bias="none")


def open_adapter(model, adapter_path: str | os.PathLike):
    """`model` with the LoRA adapter at `adapter_path` on it, trainable: training continues from
    its weights (its own rank and target modules apply, not the config's)."""
    from peft import PeftModel

    if not (Path(adapter_path) / "adapter_config.json").exists():
        raise TrainingError(f"{adapter_path} is not a LoRA adapter folder (no adapter_config.json)",
                            hint="pick an adapter the studio trained, or start from the base")
    return PeftModel.from_pretrained(model, str(adapter_path), is_trainable=True)


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """A job's training file, all rows; a bad line fails the job as FILE:LINE."""
    from engines.jsonl import json_lines

    rows = []
    for _n, row, problem in json_lines(path):
        if problem:
            raise TrainingError(problem, hint="re-create the job from the dataset")
        rows.append(row)
    if not rows:
        raise TrainingError(f"{path}: the training data is empty", hint="pick a dataset version with rows")
    return rows


def checkpointing_arg() -> str:
    """TrainingArguments' name for activation checkpointing: transformers renamed
    `gradient_checkpointing` to `activation_checkpointing` within 5.x (5.17 knows only the old)."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def trainer_args_common(cfg, device: str, precision: str, staging: Path) -> dict[str, Any]:
    """TrainingArguments every method shares, from TrainingConfig's fields."""
    save_steps = cfg.save_steps if cfg.save_steps and cfg.save_steps > 0 else 10**9
    return {checkpointing_arg(): cfg.gradient_checkpointing} | dict(
        output_dir=str(staging),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps and cfg.max_steps > 0 else -1,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=None,  # StudioCallback keeps the newest `keep_checkpoints`
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device == "cpu",
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        # CPU data-parallel (accelerate launch on CPU nodes) speaks gloo; a single process none
        ddp_backend="gloo" if device == "cpu" and world_size() > 1 else None,
        save_only_model=False,  # optimizer + scheduler + RNG: Resume continues the same run
        remove_unused_columns=True,
    )


# bookkeeping the trainer logs that is not worth a chart
_NOISE = {
    "epoch", "step", "total_flos", "num_input_tokens_seen", "num_tokens", "train_runtime", "train_tokens_per_second",
    "eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "eval_num_tokens",
}


# ---- the callback ------------------------------------------------------------------------------
class StudioCallback:
    """Build with make_callback(); kept as a plain class so this module imports without torch."""


def world_size() -> int:
    """How many data-parallel processes run this job (accelerate / torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def make_callback(emit: Emit, should_stop: ShouldStop, checkpoints_dir: Path, cfg):
    """The StudioCallback of one run; `cfg` (a TrainingConfig) gives the batch size behind the
    samples/s figure and how many checkpoints to keep."""
    from transformers import TrainerCallback

    samples_per_step = cfg.batch_size * cfg.gradient_accumulation_steps * world_size()
    keep_checkpoints = cfg.keep_checkpoints

    class _Callback(TrainerCallback, StudioCallback):
        def __init__(self):
            self.stopped = False
            self.t0: float | None = None
            self.first_step = 0
            self.first_tokens = 0
            self.history: list[dict[str, Any]] = []
            self.last_checkpoint: Path | None = None

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.monotonic()
            self.cpu0 = time.process_time()
            self.first_step = state.global_step
            self.first_tokens = state.num_input_tokens_seen or 0

        def _rates(self, state) -> dict[str, float]:
            if self.t0 is None:
                return {}
            elapsed = max(time.monotonic() - self.t0, 1e-9)
            done = state.global_step - self.first_step
            # CPU seconds of this process: a throughput measure that other programs' load cannot skew
            out: dict[str, float] = {"elapsed_s": round(elapsed, 3), "cpu_s": round(time.process_time() - self.cpu0, 3)}
            if done > 0:
                out["samples_per_s"] = done * samples_per_step / elapsed
                tokens = (state.num_input_tokens_seen or 0) - self.first_tokens
                if tokens:
                    out["tokens_per_s"] = tokens / elapsed
                out["eta_s"] = (state.max_steps - state.global_step) * elapsed / done
            return out

        def on_step_end(self, args, state, control, **kw):
            if should_stop():
                self.stopped = True
                control.should_save = True  # the checkpoint Resume starts from
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kw):
            if not state.is_world_process_zero or not logs:
                return
            metrics = {
                k: float(v)
                for k, v in logs.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
                and k not in _NOISE
            }
            if "train_loss" in logs:  # the final summary the trainer logs once
                emit("metrics", step=state.global_step, **metrics)
                return
            if not any(k.startswith("eval_") for k in metrics):
                metrics.update(self._rates(state))
            metrics["epoch"] = float(logs.get("epoch", state.epoch or 0.0))
            self.history.append({"step": state.global_step, **metrics})
            emit("progress", step=state.global_step, total=state.max_steps, **metrics)

        def on_save(self, args, state, control, **kw):
            if not state.is_world_process_zero:
                return
            src = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if not src.exists():
                return
            dst = checkpoints_dir / src.name
            if dst.exists():
                shutil.rmtree(dst)
            os.replace(src, dst)  # one rename: a checkpoint folder is complete or absent
            self.last_checkpoint = dst
            emit("checkpoint", path=str(dst), step=state.global_step)
            olds = sorted(
                (p for p in checkpoints_dir.glob("checkpoint-*") if p.name.split("-", 1)[1].isdigit()),
                key=lambda p: int(p.name.split("-", 1)[1]),
            )
            for old in olds[:-keep_checkpoints] if keep_checkpoints > 0 else []:
                shutil.rmtree(old, ignore_errors=True)

    return _Callback()


# ---- train, with the errors users hit ------------------------------------------------------------
def train_with_recovery(trainer, resume_from: str | os.PathLike | None, *, batch_size: int, max_length: int):
    """trainer.train(), resuming optimizer/scheduler/RNG from a checkpoint; OOM and a full disk explained."""
    import torch
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # our callback reports; stdout carries JSON events only

    try:
        return trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except torch.OutOfMemoryError as e:
        raise TrainingError(
            f"The GPU ran out of memory at batch size {batch_size} and max length {max_length}",
            hint="use a smaller batch size, a shorter max length, gradient checkpointing or QLoRA",
        ) from e
    except Exception as e:
        staging = Path(trainer.args.output_dir) if hasattr(trainer, "args") else None
        if not disk_full(e, staging):
            raise
        if staging is not None:  # a half-written checkpoint: useless, and it holds the space that is left
            for partial in staging.glob("checkpoint-*"):
                shutil.rmtree(partial, ignore_errors=True)
        where = getattr(e, "filename", None) or staging or "a checkpoint"
        raise TrainingError(
            f"The disk is full while saving a checkpoint ({where}): {describe_disk(where)}",
            hint="free disk space there, then Resume the job from its last complete checkpoint",
        ) from e


_CHECKPOINT_ROOM = 64 << 20  # less free space than this after a failed checkpoint write: the disk is full


def disk_full(exc: BaseException, where: str | os.PathLike | None) -> bool:
    """Whether exc means the disk ran out of space. Each writer says it differently: Python's
    OSError carries errno 28, the Rust writers (safetensors, tokenizers) say "os error 28", and
    torch's C++ writer only fails an internal check ("unexpected pos"), so that one is judged by
    the space left on the disk it was writing to."""
    e: BaseException | None = exc
    while e is not None:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return True
        text = str(e)
        if "No space left on device" in text or "os error 28" in text:
            return True
        if where is not None and isinstance(e, RuntimeError) and "inline_container" in text:
            try:
                return shutil.disk_usage(_existing(Path(where))).free < _CHECKPOINT_ROOM
            except OSError:
                return False
        e = e.__cause__ or e.__context__
    return False


def describe_disk(path: str | os.PathLike) -> str:
    """'/mount/point (device, 1.2 MB free of 3.0 GB)': the disk that holds path, as df names it."""
    p = _existing(Path(path))
    mount = p
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    device = ""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[1].replace("\\040", " ") == str(mount):
                    device = f"{parts[0]}, {parts[2]}, "  # the last match is the mount on top
    except OSError:
        pass
    try:
        usage = shutil.disk_usage(mount)
    except OSError:
        return str(mount)
    return f"{mount} ({device}{_human(usage.free)} free of {_human(usage.total)})"


def _existing(p: Path) -> Path:
    p = p.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _human(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024:
            break
    return f"{n:.1f} {unit}"


def finish_adapter(trainer, tokenizer, out_dir: Path, template_training: str, meta: dict[str, Any]) -> Path:
    """Save the adapter (atomically) with the tokenizer carrying the *inference* template."""
    from engines.templates import inference_template

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.model.save_pretrained(tmp)
    tokenizer.chat_template = inference_template(template_training)
    tokenizer.save_pretrained(tmp)
    (tmp / "chat_template.jinja").write_text(tokenizer.chat_template, encoding="utf-8")
    (tmp / ADAPTER_META).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def run_result(method: str, trainer, output, callback, cfg, info: dict[str, Any], trainable: int,
               figures: dict[str, Any], stop_flag: list[str] | None = None) -> dict[str, Any]:
    """The result every method returns: steps and loss, the method's own `figures`, then how
    and where the run ended. With `stop_flag` (the monitors' stop reasons) it says why it stopped."""
    result: dict[str, Any] = {
        "method": method,
        "steps": trainer.state.global_step,
        "total_steps": trainer.state.max_steps,
        "train_loss": float(output.training_loss),
        **figures,
        "device": info["device"],
        "trainable_parameters": trainable,
        "chat_template_name": cfg.chat_template,
        "stopped": callback.stopped,
    }
    if stop_flag is not None:
        result["stop_reason"] = f"monitor: {stop_flag[0]}" if stop_flag else None
    result["last_checkpoint"] = str(callback.last_checkpoint) if callback.last_checkpoint else None
    return result


def save_result(trainer, tokenizer, out_dir: Path, template_training: str, meta: dict[str, Any],
                result: dict[str, Any], emit: Emit, artifact: str = "adapter") -> None:
    """On the main process: save the adapter (finish_adapter), note it in `result` and announce it.
    trl's frozen reference copy (the `ref` adapter DPO and GRPO keep) is not part of the result."""
    if not trainer.is_world_process_zero():
        return
    from engines.templates import inference_template

    if "ref" in getattr(trainer.model, "peft_config", {}):
        trainer.model.delete_adapter("ref")
    finish_adapter(trainer, tokenizer, out_dir, template_training, meta)
    result["adapter_dir"] = str(out_dir)
    result["chat_template"] = inference_template(template_training)
    emit("artifact", name=artifact, path=str(out_dir))


def lora_state(model) -> dict[str, Any]:
    """A copy of the LoRA weights (for tests and for 'did the parameters change')."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


# The oldest transformers a recipe was measured on. On an H200 image with transformers 5.17 and
# trl 1.16, SFT ran, its loss fell, and the adapter did not fit its own rows when loaded
# (loss 5.6 against 0.16; garbled replies), with the same base weights (bench/RESULTS.md, round 6).
TESTED_TRANSFORMERS = "5.24"


def old_transformers_warning(version: str) -> str | None:
    """A warning for a transformers older than the one training was measured on, else None."""
    from packaging.version import Version

    if Version(version) >= Version(TESTED_TRANSFORMERS):
        return None
    return (f"transformers {version} is older than {TESTED_TRANSFORMERS}, the oldest this studio's training was "
            f"checked on: with 5.17 an SFT run trained an adapter that did not fit its own data. "
            f"Upgrade it (pip install -U 'transformers>={TESTED_TRANSFORMERS}') before trusting this run.")


def run_training_job(config_cls, run_fn: Callable[..., dict[str, Any]], config: dict[str, Any], ctx, *, can_self_stop: bool = False) -> dict[str, Any]:
    """The job child's entry for every training method: paths live in the job folder.

    The child runs niced, so the window keeps a core; it resumes from the newest checkpoint
    when the runner asks; a run that stopped early (cancel, parent gone, a monitor) raises
    JobStopped so the runner marks it cancelled or interrupted rather than succeeded.
    """
    from engines.jobkit import JobStopped

    lower_priority()
    import transformers

    if (old := old_transformers_warning(transformers.__version__)) is not None:
        ctx.emit("warning", monitor="environment", message=old, step=0)
    data = dict(config)
    data["checkpoint_dir"] = str(ctx.checkpoints_dir)
    data["output_dir"] = str(ctx.output_dir / "adapter")
    if ctx.resume and (ck := ctx.latest_checkpoint()) is not None:
        data["resume_from"] = str(ck)
    extra = {"request_stop": ctx.request_stop} if can_self_stop else {}
    result = run_fn(config_cls.from_dict(data), ctx.emit, ctx.should_stop, workdir=ctx.job_dir, **extra)
    if result.get("stopped"):
        raise JobStopped()
    return result


def yaml_main(config_cls, run_fn: Callable[..., dict[str, Any]], module: str, argv: list[str] | None = None) -> int:
    """`python -m engines.training.<method> CONFIG.yaml`: one run in this process, events on
    stdout (rank 0 only, so `accelerate launch` prints one stream)."""
    import sys

    import yaml

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: python -m {module} CONFIG.yaml", file=sys.stderr)
        return 2
    cfg = config_cls.from_dict(yaml.safe_load(Path(argv[0]).read_text(encoding="utf-8")) or {})

    def emit(type: str, **data: Any) -> None:
        if int(os.environ.get("RANK", "0")) == 0:
            print(json.dumps({"type": type, **data}, default=str), flush=True)

    result = run_fn(cfg, emit, lambda: False)
    emit("done", result=result)
    _leave_process_group()
    return 0


def _leave_process_group() -> None:
    """Under `accelerate launch`: wait for every rank, then tear the group down. A rank that
    exits while gloo's threads still serve the others can die in std::terminate (SIGABRT)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
