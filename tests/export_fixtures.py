"""Helpers for the export tests: PEFT LoRA folders made without training (fast).

`write_random_lora` writes what PEFT's save_pretrained writes (adapter_config.json and
adapter_model.safetensors with base_model.model.<module>.lora_A/B.weight), with random
non-zero A and B, in the shapes of a given base. The agreement tests use a really trained
adapter instead; these are for names, shapes, refusals and the job/registry plumbing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

GEMMA_270M = {"hidden": 640, "q_out": 1024, "kv_out": 256, "ffn": 2048, "layers": 18}


def write_random_lora(
    out: Path,
    *,
    hidden: int,
    q_out: int,
    kv_out: int,
    ffn: int,
    layers: int,
    r: int = 4,
    alpha: float = 8,
    seed: int = 0,
    modules=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    extra_config: dict | None = None,
) -> Path:
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(seed)
    shapes = {  # module -> (out, in)
        "q_proj": ("self_attn", q_out, hidden), "k_proj": ("self_attn", kv_out, hidden),
        "v_proj": ("self_attn", kv_out, hidden), "o_proj": ("self_attn", hidden, q_out),
        "gate_proj": ("mlp", ffn, hidden), "up_proj": ("mlp", ffn, hidden), "down_proj": ("mlp", hidden, ffn),
    }
    tensors = {}
    for layer in range(layers):
        for mod in modules:
            block, o, i = shapes[mod]
            key = f"base_model.model.model.layers.{layer}.{block}.{mod}"
            tensors[f"{key}.lora_A.weight"] = torch.from_numpy(rng.normal(0, 0.02, (r, i)).astype(np.float32))
            tensors[f"{key}.lora_B.weight"] = torch.from_numpy(rng.normal(0, 0.02, (o, r)).astype(np.float32))
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "adapter_model.safetensors"))
    cfg = {"peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": list(modules),
           "use_rslora": False, "use_dora": False, "fan_in_fan_out": False, "modules_to_save": None,
           "base_model_name_or_path": None, **(extra_config or {})}
    (out / "adapter_config.json").write_text(json.dumps(cfg))
    return out


def register_adapter(studio, adapter_dir: Path, name: str = "tiny-adapter", template_name: str = "gemma"):
    """Register an adapter on the default base the way a training job does."""
    from engines.templates import get_template
    from studio.db import Model

    base = studio.registry.get("gemma-3-270m (base)")
    return studio.registry.add(Model(
        name=name, kind="adapter", format="peft", path=str(adapter_dir), parent_id=base.id,
        architecture=base.architecture, chat_template=get_template(template_name).inference,
        meta={"template_name": template_name, "method": "sft", "managed": True},
    ))
