"""Convert a PEFT LoRA adapter directory into a GGUF LoRA adapter that llama.cpp applies at load.

    base = base_spec_from_gguf("gemma-3-270m-q4_k_m.gguf")
    convert_lora_to_gguf("jobs/7/output/adapter", "exports/my-adapter.gguf", base)
    # llama_cpp.Llama(model_path=base_gguf, lora_path="exports/my-adapter.gguf")

The base stays quantised; only the low-rank pairs are written (float32), so this takes seconds.
What the file must hold (see ../shared/DESIGN.md, "GGUF LoRA adapters"):
- each PEFT pair `base_model.model.<hf name>.lora_A/B.weight` under the base's GGUF tensor name
  (through gguf's own tensor-name map) + `.lora_a` / `.lora_b`, in PEFT's shapes (A [r, in], B [out, r]);
- `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`;
- the weight transforms llama.cpp's HF converter applies to the base. Only Llama's RoPE
  permutation of q/k rows touches LoRA (it permutes the rows of B); Gemma's "+1 on norms"
  concerns norm weights, which LoRA never targets.

`load_lora_deltas` is shared with the merged export (merge_export.py), so both apply exactly
the same names, scales and transforms.
"""

from __future__ import annotations

import json
import math
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from engines.conversion import ConversionError

# GGUF architecture name -> what the converter knows about it. Anything else is refused:
# a wrong transform gives an adapter that loads fine and silently produces garbage.
SUPPORTED_ARCHS = {
    "gemma3": "GEMMA3",
    "llama": "LLAMA",
    "qwen2": "QWEN2",
    "qwen3": "QWEN3",
}
# Hugging Face model_type / class names of the same families, for bases given as HF directories
_HF_TO_GGUF_ARCH = {
    "gemma3": "gemma3", "gemma3_text": "gemma3", "Gemma3ForCausalLM": "gemma3",
    "Gemma3ForConditionalGeneration": "gemma3",
    "llama": "llama", "LlamaForCausalLM": "llama", "mistral": "llama", "MistralForCausalLM": "llama",
    "qwen2": "qwen2", "Qwen2ForCausalLM": "qwen2",
    "qwen3": "qwen3", "Qwen3ForCausalLM": "qwen3",
}


@dataclass
class BaseSpec:
    """What the converter needs to know about the base model the adapter is applied to."""

    architecture: str  # GGUF architecture name: gemma3 | llama | qwen2 | qwen3
    n_layers: int
    n_head: int | None = None  # needed for Llama's q/k permutation
    n_head_kv: int | None = None
    # GGUF tensor name -> ggml shape (ne0 = in features, ne1 = out features); None skips the check
    tensor_shapes: dict[str, tuple[int, ...]] | None = None
    source: str = ""  # the file or folder this came from, for messages


@dataclass
class LoraDelta:
    """One adapted weight, in GGUF naming and layout: W_gguf += scale * b @ a."""

    gguf_name: str  # e.g. blk.0.attn_q.weight
    a: np.ndarray  # [r, in] float32
    b: np.ndarray  # [out, r] float32, already permuted like the base weight
    scale: float  # PEFT's alpha / r (or alpha / sqrt(r) for rsLoRA), per module


@dataclass
class LoadedAdapter:
    path: str
    config: dict
    deltas: list[LoraDelta] = field(default_factory=list)
    alpha: float = 0.0  # the single adapter.lora.alpha written to the GGUF


def check_architecture(arch: str, source: str) -> str:
    if arch not in SUPPORTED_ARCHS:
        raise ConversionError(
            f"{source}: architecture {arch!r} is not supported for GGUF export",
            hint=f"supported architectures: {', '.join(SUPPORTED_ARCHS)}",
        )
    return arch


def base_spec_from_gguf(path: str | os.PathLike) -> BaseSpec:
    """Read the architecture, layer and head counts and tensor shapes from a GGUF header."""
    from engines.conversion.gguf_meta import read_base_gguf

    info = read_base_gguf(path, hint="re-import the base model from an intact GGUF file")
    arch = check_architecture(info.architecture, str(path))
    meta = info.metadata
    return BaseSpec(
        architecture=arch,
        n_layers=int(info.block_count or 0),
        n_head=meta.get(f"{arch}.attention.head_count"),
        n_head_kv=meta.get(f"{arch}.attention.head_count_kv", meta.get(f"{arch}.attention.head_count")),
        tensor_shapes={name: shape for name, (shape, _t) in info.tensors.items()},
        source=str(path),
    )


def base_spec_from_hf(path: str | os.PathLike) -> BaseSpec:
    """The same facts from a Hugging Face model directory's config.json (no shape check)."""
    cfg_path = Path(path) / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConversionError(f"{cfg_path}: cannot read the base model's config ({e})") from e
    text = cfg.get("text_config") or cfg
    names = [cfg.get("model_type"), text.get("model_type"), *(cfg.get("architectures") or [])]
    arch = next((_HF_TO_GGUF_ARCH[n] for n in names if n in _HF_TO_GGUF_ARCH), None)
    if arch is None:
        raise ConversionError(
            f"{cfg_path}: architecture {names[0] or names[-1]!r} is not supported for GGUF export",
            hint=f"supported architectures: {', '.join(SUPPORTED_ARCHS)}",
        )
    return BaseSpec(
        architecture=arch,
        n_layers=int(text["num_hidden_layers"]),
        n_head=text.get("num_attention_heads"),
        n_head_kv=text.get("num_key_value_heads") or text.get("num_attention_heads"),
        source=str(path),
    )


def llama_permute(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """Reorder q/k rows from HF's half-split RoPE layout to GGUF's interleaved pairs.

    The same reshape llama.cpp's convert_hf_to_gguf.py applies to Llama's q_proj/k_proj
    weights; for a LoRA it applies to the rows of B (the output side).
    """
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


_PAIR = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[A-Za-z0-9_]+)?\.weight$")


def _read_tensors(adapter_dir: Path) -> dict[str, np.ndarray]:
    st = adapter_dir / "adapter_model.safetensors"
    binf = adapter_dir / "adapter_model.bin"
    try:
        if st.exists():
            from safetensors import safe_open

            out = {}
            with safe_open(str(st), framework="pt") as f:  # torch reads bf16, numpy cannot
                for k in f.keys():
                    out[k] = f.get_tensor(k).float().numpy()
            return out
        if binf.exists():
            import torch

            sd = torch.load(str(binf), map_location="cpu", weights_only=True)
            return {k: v.float().numpy() for k, v in sd.items()}
    except Exception as e:  # noqa: BLE001 - any reader failure means a damaged file
        bad = st if st.exists() else binf
        raise ConversionError(
            f"{bad}: cannot read the adapter weights ({type(e).__name__}: {e})",
            hint="the file is damaged or incomplete; export again from the training job's output",
        ) from e
    raise ConversionError(
        f"{adapter_dir}: no adapter_model.safetensors or adapter_model.bin",
        hint="select the folder that PEFT's save_pretrained wrote",
    )


def read_adapter_config(adapter_dir: str | os.PathLike) -> dict:
    adapter_dir = Path(adapter_dir)
    cfg_path = adapter_dir / "adapter_config.json"
    if not adapter_dir.is_dir():
        raise ConversionError(f"{adapter_dir}: the adapter folder does not exist")
    if not cfg_path.exists():
        raise ConversionError(
            f"{cfg_path}: missing; {adapter_dir} is not a PEFT adapter folder",
            hint="select the folder that PEFT's save_pretrained wrote (it holds adapter_config.json)",
        )
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConversionError(f"{cfg_path}: not valid JSON ({e})") from e
    if str(cfg.get("peft_type", "")).upper() != "LORA":
        raise ConversionError(f"{cfg_path}: peft_type {cfg.get('peft_type')!r}; only LoRA adapters can be exported")
    if cfg.get("use_dora"):
        raise ConversionError(f"{cfg_path}: DoRA adapters cannot be written as GGUF LoRA", hint="train a plain LoRA")
    if cfg.get("modules_to_save"):
        raise ConversionError(
            f"{cfg_path}: the adapter also saves full modules ({', '.join(cfg['modules_to_save'])}), "
            "which a GGUF LoRA cannot carry",
            hint="train without modules_to_save",
        )
    if cfg.get("fan_in_fan_out"):
        raise ConversionError(f"{cfg_path}: fan_in_fan_out adapters (GPT-2 style Conv1D) are not supported")
    return cfg


def _module_scale(module: str, cfg: dict, r: int) -> float:
    """PEFT's scaling for one module, honouring alpha_pattern and rsLoRA."""
    alpha = float(cfg.get("lora_alpha", r))
    for pattern, a in (cfg.get("alpha_pattern") or {}).items():
        if re.search(rf"(^|\.){pattern}$", module):
            alpha = float(a)
    return alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r


def load_lora_deltas(adapter_dir: str | os.PathLike, base: BaseSpec) -> LoadedAdapter:
    """Read a PEFT LoRA folder and return its pairs in GGUF names and layout, checked on `base`."""
    import gguf

    adapter_dir = Path(adapter_dir)
    check_architecture(base.architecture, base.source or str(adapter_dir))
    cfg = read_adapter_config(adapter_dir)
    tensors = _read_tensors(adapter_dir)
    name_map = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, SUPPORTED_ARCHS[base.architecture]), base.n_layers)
    weights_file = next((p for p in (adapter_dir / "adapter_model.safetensors", adapter_dir / "adapter_model.bin") if p.exists()))

    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        m = _PAIR.match(key)
        if not m:
            raise ConversionError(
                f"{weights_file}: tensor {key!r} is not a LoRA A/B weight",
                hint="only plain LoRA adapters can be exported (no trainable tokens, biases or extra modules)",
            )
        pairs.setdefault(m["module"], {})[m["ab"]] = value
    if not pairs:
        raise ConversionError(f"{weights_file}: the adapter holds no LoRA weights")

    loaded = LoadedAdapter(path=str(adapter_dir), config=cfg)
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise ConversionError(f"{weights_file}: {module} has lora_{'A' if 'A' in ab else 'B'} without its pair")
        hf_name = module.removeprefix("base_model.model.").replace("language_model.", "")
        if hf_name.endswith(("embed_tokens", "lm_head")):
            raise ConversionError(
                f"{weights_file}: a LoRA on {hf_name} (the embeddings) is not supported for GGUF export",
                hint="target the attention and MLP projections only",
            )
        gguf_name = name_map.get_name(hf_name + ".weight", try_suffixes=(".weight",))
        if gguf_name is None:
            raise ConversionError(
                f"{weights_file}: no {base.architecture} tensor matches {hf_name}",
                hint="was this adapter trained on another kind of model? Export it on its own base",
            )
        a, b = ab["A"].astype(np.float32), ab["B"].astype(np.float32)
        r = a.shape[0]
        if a.ndim != 2 or b.ndim != 2 or b.shape[1] != r:
            raise ConversionError(f"{weights_file}: {module} has LoRA shapes A{a.shape} B{b.shape}, not [r,in] / [out,r]")
        if base.tensor_shapes is not None:
            want = base.tensor_shapes.get(gguf_name)
            if want is None:
                raise ConversionError(f"{weights_file}: the base {base.source} has no tensor {gguf_name} for {hf_name}")
            if len(want) != 2 or (a.shape[1], b.shape[0]) != (want[0], want[1]):
                raise ConversionError(
                    f"{weights_file}: {hf_name} is {b.shape[0]}x{a.shape[1]} in the adapter but "
                    f"{want[1]}x{want[0]} in the base {Path(base.source).name}: "
                    "the adapter was trained on a different base model",
                    hint="export it on the base model it was trained on",
                )
        if base.architecture == "llama" and gguf_name.endswith(("attn_q.weight", "attn_k.weight")):
            if not base.n_head:
                raise ConversionError(f"{base.source}: head count unknown; cannot permute Llama q/k")
            kv = base.n_head_kv if gguf_name.endswith("attn_k.weight") else base.n_head
            b = llama_permute(b, base.n_head, kv)
        loaded.deltas.append(LoraDelta(gguf_name, np.ascontiguousarray(a), np.ascontiguousarray(b), _module_scale(module, cfg, r)))
    loaded.alpha = float(cfg.get("lora_alpha", loaded.deltas[0].a.shape[0]))
    return loaded


@contextmanager
def atomic_gguf_writer(out_path: Path, arch: str):
    """A GGUFWriter on a temporary name; the file is renamed to out_path only when complete."""
    import gguf

    tmp = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}")
    writer = gguf.GGUFWriter(str(tmp), arch)
    try:
        yield writer
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise


def convert_lora_to_gguf(
    adapter_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    base: BaseSpec,
    *,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write the adapter as a GGUF LoRA at out_path (temp name, then rename). Returns facts."""
    import gguf

    loaded = load_lora_deltas(adapter_dir, base)
    out_path = Path(out_path)
    with atomic_gguf_writer(out_path, base.architecture) as writer:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, loaded.alpha)
        writer.add_name(name or Path(adapter_dir).name)
        total = len(loaded.deltas)
        for i, d in enumerate(loaded.deltas, 1):
            # llama.cpp scales every pair by alpha / rank(this pair); fold any per-module
            # difference (rsLoRA, alpha_pattern, rank_pattern) into B so the product is exact.
            fold = d.scale / (loaded.alpha / d.a.shape[0])
            b = d.b if math.isclose(fold, 1.0, rel_tol=1e-6) else d.b * np.float32(fold)
            writer.add_tensor(f"{d.gguf_name}.lora_a", d.a)
            writer.add_tensor(f"{d.gguf_name}.lora_b", np.ascontiguousarray(b, dtype=np.float32))
            if progress:
                progress(i, total)
    return {
        "path": str(out_path),
        "architecture": base.architecture,
        "tensors": 2 * len(loaded.deltas),
        "rank": int(loaded.deltas[0].a.shape[0]),
        "alpha": loaded.alpha,
        "file_size": out_path.stat().st_size,
    }
