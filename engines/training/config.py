"""The one base config every training method shares, as trl's configs share `TrainingArguments`.

`TrainingConfig` declares the fields every method has (base model, template, LoRA,
optimisation, checkpoints, hardware) once, with their help text, defaults and validation.
A method's config subclasses it, adds its own fields, and states only the defaults that differ
with `method_default`, which keeps the help and adds why this method differs:

    @dataclass
    class GRPOJobConfig(PreferenceConfig):
        learning_rate: float = method_default("learning_rate", 1e-5, "RL wants a small one.")
        num_generations: int = field(default=4, metadata={"help": "Completions sampled per prompt."})

The wizard's Advanced panel, `studio train fields` and `--set` list a config through
`dataclasses.fields` (name, `default`, `metadata["help"]`); a stored job config is a plain
dict, and `from_dict` turns it back into its method's config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from engines.training.common import TrainingError, check

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CHAT_TEMPLATES = ("gemma", "chatml", "llama3", "model")


@dataclass
class TrainingConfig:
    """Everything one training run needs, as plain data (stored as the job's config).
    The defaults are SFT's; other methods override some with `method_default`."""

    # -- what to train on --
    base_model_path: str = field(default="", metadata={"help": "Hugging Face directory of the base model (a GGUF base is converted to one first)."})
    base_gguf: str = field(default="", metadata={"help": "A GGUF base to convert into base_model_path first, when that folder is not there yet."})
    train_file: str = field(default="", metadata={"help": "JSONL of training rows in the method's shape: SFT {'messages': [...]} or "
                                                          "{'prompt', 'completion'}; reward model and DPO {'prompt', 'chosen', 'rejected'}; GRPO {'prompt', 'answer'}."})
    eval_file: str = field(default="", metadata={"help": "JSONL of held-out rows for evaluation (empty: split off eval_fraction of train_file)."})
    output_dir: str = field(default="output/adapter", metadata={"help": "Where the finished adapter is written (relative paths: inside the job folder)."})
    checkpoint_dir: str = field(default="checkpoints", metadata={"help": "Where checkpoint-<step> folders go; Resume reads the newest."})
    resume_from: str = field(default="", metadata={"help": "A checkpoint folder to continue from (optimizer and scheduler state included)."})
    adapter_path: str = field(default="", metadata={"help": "A LoRA adapter to start from and keep training (an earlier SFT, DPO or GRPO "
                                                            "fine-tune; its rank and modules apply); empty: a new LoRA on the base."})
    # -- chat template: one for training and inference --
    chat_template: str = field(default="gemma", metadata={"help": "gemma | chatml | llama3 | model (the base model's own). "
                                                                  "Saved with the adapter, so inference uses the template training used."})
    chat_template_text: str = field(default="", metadata={"help": "The template's training text, filled by the studio so a job re-runs identically."})
    # -- LoRA --
    lora_r: int = field(default=16, metadata={"help": "LoRA rank: capacity of the update (8-64 is typical)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scale numerator; alpha/r scales the update (2x r is the usual choice)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input; regularises small datasets."})
    target_modules: str = field(default="all-linear", metadata={"help": "Modules that get LoRA: 'all-linear' or a comma list like 'q_proj,v_proj'."})
    # -- optimisation --
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate; LoRA tolerates ~10x the full fine-tune rate."})
    lr_scheduler: str = field(default="cosine", metadata={"help": "Learning-rate schedule: " + ", ".join(SCHEDULERS) + "."})
    warmup_steps: int = field(default=0, metadata={"help": "Steps of linear warm-up before the schedule."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the data (ignored when max_steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."})
    batch_size: int = field(default=4, metadata={"help": "Rows per device per step; lower it when memory runs out."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Steps whose gradients add up before one update (effective batch = batch x this)."})
    max_length: int = field(default=512, metadata={"help": "Tokens per row (prompt and answer); longer rows are truncated "
                                                         "(a reward model drops longer pairs). The biggest lever on memory."})
    seed: int = field(default=42, metadata={"help": "Seed for data order, LoRA init and dropout: equal seeds give equal runs."})
    # -- evaluation, checkpoints, logging --
    eval_fraction: float = field(default=0.0, metadata={"help": "Share of rows held out for evaluation when no eval_file is given (0: none)."})
    eval_steps: int = field(default=0, metadata={"help": "Evaluate every N steps (0: at each checkpoint)."})
    save_steps: int = field(default=50, metadata={"help": "Write a checkpoint every N steps (0: only when stopped)."})
    keep_checkpoints: int = field(default=2, metadata={"help": "How many of the newest checkpoints to keep on disk."})
    logging_steps: int = field(default=1, metadata={"help": "Report loss, learning rate, grad norm and the method's metrics every N steps."})
    # -- hardware --
    precision: str = field(default="auto", metadata={"help": "auto (bf16/fp16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in backward: less memory, ~30% slower."})
    qlora: bool = field(default=False, metadata={"help": "Load the base in 4-bit (bitsandbytes, CUDA only): QLoRA."})

    def __post_init__(self) -> None:
        check(self.lora_r >= 1, f"lora_r must be at least 1, not {self.lora_r}")
        check(self.lora_alpha >= 1, f"lora_alpha must be at least 1, not {self.lora_alpha}")
        check(0.0 <= self.lora_dropout < 1.0, f"lora_dropout must be in [0, 1), not {self.lora_dropout}")
        check(0.0 < self.learning_rate < 1.0, f"learning_rate must be in (0, 1), not {self.learning_rate}",
              f"{self.__dataclass_fields__['learning_rate'].default:g} is a good start for this method")
        check(self.lr_scheduler in SCHEDULERS, f"lr_scheduler {self.lr_scheduler!r} is not one of {', '.join(SCHEDULERS)}")
        check(self.precision in PRECISIONS, f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        check(self.batch_size >= 1, f"batch_size must be at least 1, not {self.batch_size}")
        check(self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be at least 1")
        check(16 <= self.max_length <= 131072, f"max_length must be between 16 and 131072, not {self.max_length}")
        check(self.max_steps > 0 or self.epochs > 0, "set max_steps > 0 or epochs > 0", "a run needs a length")
        check(0.0 <= self.eval_fraction < 0.5, f"eval_fraction must be in [0, 0.5), not {self.eval_fraction}")
        check(self.warmup_steps >= 0 and self.save_steps >= 0 and self.eval_steps >= 0, "step counts cannot be negative")
        check(self.logging_steps >= 1, "logging_steps must be at least 1")
        check(bool(self.target_modules.strip()), "target_modules is empty", "use 'all-linear'")
        if self.chat_template not in CHAT_TEMPLATES and not self.chat_template_text:
            raise TrainingError(f"Unknown chat template {self.chat_template!r}", "choose gemma, chatml, llama3 or model")

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """A config from plain data (a stored job config, a YAML file), naming unknown keys
        instead of raising a TypeError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(
                f"Unknown {cls.__name__} field(s): {', '.join(unknown)}",
                hint="the fields are: " + ", ".join(sorted(known)),
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def method_default(name: str, default: Any, why: str = "") -> Any:
    """A method's own default for the TrainingConfig field `name`. The field keeps
    TrainingConfig's help, with `why` (why this method differs) after it; declare it with the
    same name and type as in TrainingConfig."""
    base = TrainingConfig.__dataclass_fields__[name]
    help_text = f"{base.metadata['help']} {why}".strip()
    return field(default=default, metadata={"help": help_text, "default_of": name})
