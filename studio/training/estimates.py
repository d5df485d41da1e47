"""The wizard's review numbers, made to agree with what the job will report.

`TrainingService.estimate` guesses the model's shape when a GGUF base is not converted yet and
counts LoRA parameters as if every projection were hidden x hidden; Gemma 3's attention
projections are not (heads x head_dim = 1024 on gemma-3-270m, hidden 640), so it said 2,967,552
where the trainer reported 1,898,496. Here the count comes from the base's real dimensions (the
GGUF's own metadata, or the converted config.json), module by module as PEFT builds them. And a
GGUF base that has no Hugging Face copy yet is converted once before its first training run
(~70 s for gemma-3-270m on 2 cores): that time is added and named.

Runs on a worker thread (it reads the GGUF header; no torch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Measured here: the first GGUF -> Hugging Face conversion of gemma-3-270m (268 M parameters,
# tokenizer conversion included) took about 70 s on 2 cores; it scales with the weights.
CONVERSION_SECONDS_PER_PARAMETER = 70 / 268e6
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class Dims:
    hidden: int
    layers: int
    ffn: int
    q_out: int  # heads x head_dim
    kv_out: int  # kv heads x head_dim

    @classmethod
    def from_hf_config(cls, config: dict[str, Any]) -> "Dims":
        c = config.get("text_config") or config
        hidden, heads = int(c["hidden_size"]), int(c["num_attention_heads"])
        head_dim = int(c.get("head_dim") or hidden // heads)
        return cls(hidden, int(c["num_hidden_layers"]), int(c["intermediate_size"]), heads * head_dim,
                   int(c.get("num_key_value_heads", heads)) * head_dim)

    @classmethod
    def from_gguf(cls, path: str | Path) -> "Dims | None":
        from engines.conversion.gguf_meta import read_gguf_info  # the header only (GGUFReader takes ~30 s)

        meta = read_gguf_info(path).metadata

        def value(key: str):
            return meta.get(key)

        arch = value("general.architecture")
        need = {k: value(f"{arch}.{k}") for k in ("embedding_length", "block_count", "feed_forward_length",
                                                 "attention.head_count")}
        if arch is None or None in need.values():
            return None
        hidden, heads = int(need["embedding_length"]), int(need["attention.head_count"])
        head_dim = int(value(f"{arch}.attention.key_length") or hidden // heads)
        kv = int(value(f"{arch}.attention.head_count_kv") or heads)
        return cls(hidden, int(need["block_count"]), int(need["feed_forward_length"]), heads * head_dim, kv * head_dim)


def lora_parameters(d: Dims, r: int, target_modules: str = "all-linear") -> int:
    """What PEFT's LoRA adds: r x (in + out) for each targeted projection of each layer."""
    shapes = {"q_proj": (d.hidden, d.q_out), "k_proj": (d.hidden, d.kv_out), "v_proj": (d.hidden, d.kv_out),
              "o_proj": (d.q_out, d.hidden), "gate_proj": (d.hidden, d.ffn), "up_proj": (d.hidden, d.ffn),
              "down_proj": (d.ffn, d.hidden)}
    names = ALL_LINEAR if target_modules.strip() == "all-linear" else [t.strip() for t in target_modules.split(",") if t.strip()]
    return d.layers * sum(r * sum(shapes[n]) for n in names if n in shapes)


def review_estimate(service, plan: dict[str, Any]) -> dict[str, Any]:
    """`service.estimate(plan)` with the exact LoRA count and the one-time conversion added."""
    est = dict(service.estimate(plan))
    base = service.studio.registry.get(plan["base_model_id"])
    hf_dir = service._cached_hf_dir(base)
    dims = None
    if hf_dir is not None and (hf_dir / "config.json").exists():
        dims = Dims.from_hf_config(json.loads((hf_dir / "config.json").read_text(encoding="utf-8")))
    elif base.format == "gguf" and Path(base.path).exists():
        dims = Dims.from_gguf(base.path)
    cfg = plan["config"]
    if dims is not None:
        exact = lora_parameters(dims, int(cfg.get("lora_r", 16)), str(cfg.get("target_modules", "all-linear")))
        extra = (exact - est["lora_parameters"]) * 16  # fp32 weight + grad + AdamW's two moments
        est.update(lora_parameters=exact, lora_bytes=est["lora_bytes"] + extra // 2,
                   optimizer_bytes=est["optimizer_bytes"] + extra // 2, total_bytes=est["total_bytes"] + int(extra * 1.15))
        est["fits"] = est["total_bytes"] <= est["free_bytes"]
    est["training_seconds"] = est["seconds"]
    est["conversion_seconds"] = 0.0
    if base.format == "gguf" and hf_dir is None:
        est["conversion_seconds"] = (base.parameters or 270e6) * CONVERSION_SECONDS_PER_PARAMETER
    est["seconds"] = est["training_seconds"] + est["conversion_seconds"]
    return est
