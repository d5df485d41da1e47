"""Before a run: will it fit, and how long will it take? (No torch; the wizard calls it live.)

The estimate adds up the four things that hold memory during LoRA training:
- weights: every base parameter at the load precision (fp32 on CPU, bf16 on CUDA, ~0.56 B with QLoRA);
- LoRA: the adapter's parameters, their gradients and AdamW's two moments, all fp32 (16 B each);
- optimizer: counted inside LoRA above, reported separately for the review page;
- activations: per layer ~ batch x length x hidden x 18 values kept for backward (x ~1/layers
  with gradient checkpointing), plus the logits over the vocabulary (batch x length x vocab,
  three fp32 copies: logits, softmax, grad), which dominate for small models with big vocabularies
  such as Gemma's 262k.
Duration: 6 x parameters x tokens FLOPs (forward + backward) over a sustained device rate, with
CPU calibrated on this project's machine (gemma-3-270m, batch 4, length 128: ~2.7 s per step).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

GIB = 1024**3
CPU_FLOPS_PER_CORE = 1.5e11  # measured here: 6 x 270e6 params x 512 tokens / 2.7 s = 3.1e11 FLOP/s on 2 cores
CUDA_FLOPS = 60e12  # a sustained ~30% of a modern GPU's bf16 peak


@dataclass
class ModelShape:
    parameters: int
    hidden_size: int
    layers: int
    intermediate_size: int
    vocab_size: int
    kv_ratio: float = 1.0  # kv heads / attention heads

    @classmethod
    def from_hf_config(cls, config: dict[str, Any], parameters: int | None = None) -> "ModelShape":
        text = config.get("text_config") or config
        h = int(text.get("hidden_size", 2048))
        layers = int(text.get("num_hidden_layers", 24))
        inter = int(text.get("intermediate_size", 4 * h))
        vocab = int(text.get("vocab_size", 32000))
        heads = int(text.get("num_attention_heads", 16))
        kv = int(text.get("num_key_value_heads", heads))
        if parameters is None:
            parameters = layers * (4 * h * h + 3 * h * inter) + vocab * h
        return cls(parameters, h, layers, inter, vocab, kv / max(heads, 1))

    @classmethod
    def from_dir(cls, model_dir: str | Path, parameters: int | None = None) -> "ModelShape | None":
        p = Path(model_dir) / "config.json"
        if not p.exists():
            return None
        return cls.from_hf_config(json.loads(p.read_text(encoding="utf-8")), parameters)

    @classmethod
    def guess(cls, parameters: int) -> "ModelShape":
        """Shape from the parameter count alone (a GGUF not yet converted): a typical aspect ratio."""
        h = max(256, int(round(math.sqrt(parameters / 150) / 64)) * 64)
        layers = max(2, int(parameters / (12 * h * h)))
        return cls(parameters, h, layers, 4 * h, 32000)


@dataclass
class Estimate:
    weights_bytes: int
    lora_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    total_bytes: int
    lora_parameters: int
    free_bytes: int
    fits: bool
    tokens: int
    steps: int
    seconds: float
    warning: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lora_parameter_count(shape: ModelShape, r: int, target_modules: str = "all-linear") -> int:
    h, inter = shape.hidden_size, shape.intermediate_size
    kv = max(1, int(h * shape.kv_ratio))
    per_module = {
        "q_proj": r * (h + h), "k_proj": r * (h + kv), "v_proj": r * (h + kv), "o_proj": r * (h + h),
        "gate_proj": r * (h + inter), "up_proj": r * (h + inter), "down_proj": r * (inter + h),
    }
    if target_modules.strip() == "all-linear":
        names = list(per_module)
    else:
        names = [t.strip() for t in target_modules.split(",") if t.strip()]
    return shape.layers * sum(per_module.get(n, r * 2 * h) for n in names)


def estimate(
    shape: ModelShape,
    *,
    device: str,
    free_bytes: int,
    cores: int = 2,
    lora_r: int = 16,
    target_modules: str = "all-linear",
    batch_size: int = 4,
    max_length: int = 512,
    gradient_checkpointing: bool = False,
    qlora: bool = False,
    rows: int = 1000,
    mean_tokens: float = 128.0,
    epochs: float = 1.0,
    max_steps: int = -1,
    gradient_accumulation_steps: int = 1,
) -> Estimate:
    weight_b = 0.5625 if qlora else (4 if device == "cpu" else 2)
    act_b = 4 if device == "cpu" else 2
    weights = int(shape.parameters * weight_b)
    lora_params = lora_parameter_count(shape, lora_r, target_modules)
    lora = lora_params * 8  # fp32 weight + grad
    optimizer = lora_params * 8  # AdamW: two fp32 moments
    seq = min(max_length, max(16, int(mean_tokens)))  # batches pad to the longest row, not max_length
    per_layer = batch_size * seq * shape.hidden_size * 18 * act_b
    layers_kept = math.sqrt(shape.layers) if gradient_checkpointing else shape.layers
    logits = batch_size * seq * shape.vocab_size * 4 * 3
    activations = int(per_layer * layers_kept + logits)
    total = int((weights + lora + optimizer + activations) * 1.15)  # allocator slack and buffers
    eff_batch = batch_size * gradient_accumulation_steps
    steps = max_steps if max_steps and max_steps > 0 else max(1, math.ceil(rows * epochs / eff_batch))
    tokens = int(steps * eff_batch * seq)
    rate = CUDA_FLOPS if device == "cuda" else CPU_FLOPS_PER_CORE * max(1, cores)
    seconds = 6 * shape.parameters * tokens / rate * (1.3 if gradient_checkpointing else 1.0)
    fits = total <= free_bytes
    warning = ""
    if not fits:
        warning = (
            f"This run needs about {total / GIB:.1f} GiB but only {free_bytes / GIB:.1f} GiB is free: "
            "lower the batch size or max length, turn on gradient checkpointing"
            + (" or QLoRA" if device == "cuda" and not qlora else "")
        )
    elif total > 0.85 * free_bytes:
        warning = f"This run uses {total / free_bytes:.0%} of the free memory; other programs may push it over"
    return Estimate(weights, lora, optimizer, activations, total, lora_params, free_bytes, fits, tokens, steps, seconds, warning)
