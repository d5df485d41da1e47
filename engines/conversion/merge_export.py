"""Merge a LoRA adapter into its base GGUF and write the whole model as GGUF f16 or q8_0.

    merge_lora_into_gguf(base_gguf, adapter_dir, "exports/model-f16.gguf", out_type="f16",
                         chat_template=template_text)

The merge happens in GGUF space: every base tensor is dequantised, the adapter's delta
(scale * B @ A, with the same names and transforms as the GGUF LoRA export, see
lora_to_gguf.load_lora_deltas) is added where it applies, and the result is written in the
chosen type. All metadata (hyperparameters, the tokenizer's arrays) is copied from the base
GGUF as it is, so nothing of the HF->GGUF conversion (Gemma's norm +1, Llama's q/k permutation)
has to be redone: the base tensors already carry them. `tokenizer.chat_template` is set to the
template the adapter was trained with, so llama.cpp's chat completion uses it unasked.

Numbers: the merged model is as exact as the base allows; the base's quantisation error
stays (a Q4_K_M base merged to f16 is "Q4_K_M weights + delta" in f16, not the original HF).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from engines.conversion.lora_to_gguf import (
    ConversionError,
    atomic_gguf_writer,
    base_spec_from_gguf,
    load_lora_deltas,
)

OUT_TYPES = ("f16", "q8_0")
_SKIP_KEYS = ("GGUF.", "general.architecture", "general.file_type", "general.quantization_version",
              "tokenizer.chat_template", "general.name")


def merge_lora_into_gguf(
    base_gguf: str | os.PathLike,
    adapter_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    out_type: str = "f16",
    chat_template: str | None = None,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write base + adapter as one GGUF at out_path (temp name, then rename). Returns facts."""
    import gguf
    from gguf import GGMLQuantizationType as Q
    from gguf import quants

    if out_type not in OUT_TYPES:
        raise ConversionError(f"unknown export type {out_type!r}", hint=f"choose one of {', '.join(OUT_TYPES)}")
    base = base_spec_from_gguf(base_gguf)  # checks the header and the architecture first
    loaded = load_lora_deltas(adapter_dir, base)
    deltas = {d.gguf_name: d for d in loaded.deltas}
    try:
        reader = gguf.GGUFReader(str(base_gguf))
    except Exception as e:  # noqa: BLE001 - a reader failure means a damaged base file
        raise ConversionError(f"{base_gguf}: cannot read the base GGUF ({e})", hint="re-import the base model") from e

    out_path = Path(out_path)
    with atomic_gguf_writer(out_path, base.architecture) as writer:
        for key, fld in reader.fields.items():
            if key.startswith(_SKIP_KEYS):
                continue
            vtype = fld.types[0]
            sub = fld.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(key, fld.contents(), vtype, sub_type=sub)
        writer.add_name(name or Path(out_path).stem)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if out_type == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        if chat_template:
            writer.add_chat_template(chat_template)

        total = len(reader.tensors)
        for i, t in enumerate(reader.tensors, 1):
            try:
                w = quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            except NotImplementedError as e:
                raise ConversionError(
                    f"{base_gguf}: tensor {t.name} is stored as {t.tensor_type.name}, which cannot be dequantised here",
                    hint="merge on a base in a common type (F16, Q8_0, Q4_K_M...), or export a GGUF LoRA instead",
                ) from e
            d = deltas.pop(t.name, None)
            if d is not None:
                w = w + np.float32(d.scale) * (d.b @ d.a)
            if w.ndim < 2:  # norms and biases stay float32, as llama.cpp's converter keeps them
                writer.add_tensor(t.name, np.ascontiguousarray(w, dtype=np.float32))
            elif out_type == "q8_0" and w.shape[-1] % quants.GGML_QUANT_SIZES[Q.Q8_0][0] == 0:
                writer.add_tensor(t.name, quants.quantize(w, Q.Q8_0), raw_dtype=Q.Q8_0)
            else:
                writer.add_tensor(t.name, np.ascontiguousarray(w, dtype=np.float16))
            if progress:
                progress(i, total + 1)
        if deltas:  # load_lora_deltas checked names against the header; this is a safety net
            raise ConversionError(f"{base_gguf}: no tensors {', '.join(sorted(deltas))} for the adapter")
    if progress:
        progress(total + 1, total + 1)
    return {
        "path": str(out_path),
        "architecture": base.architecture,
        "type": out_type,
        "merged_tensors": len(loaded.deltas),
        "file_size": out_path.stat().st_size,
    }
