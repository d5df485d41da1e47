"""Conversion: model files between the formats training and inference need.

    from engines.conversion.gguf_to_hf import convert_gguf_to_hf
    from engines.conversion.lora_to_gguf import base_spec_from_gguf, convert_lora_to_gguf
    hf_dir = convert_gguf_to_hf("gemma-3-270m-q4_k_m.gguf", "models/gemma-3-270m-hf")  # once per base
    convert_lora_to_gguf("jobs/7/output/adapter", "exports/my-adapter.gguf",
                         base_spec_from_gguf("gemma-3-270m-q4_k_m.gguf"))

What is where:
    gguf_meta.py, hf_meta.py   a GGUF file's or a Hugging Face folder's facts, without the weights
    gguf_to_hf.py              a GGUF base -> a Hugging Face directory that training loads
    lora_to_gguf.py            a PEFT LoRA adapter -> a GGUF LoRA adapter for llama.cpp
    merge_export.py            an adapter merged into its base -> one GGUF (f16 or q8_0)
    modelfile.py               an Ollama Modelfile next to an export
    export.py                  the "export" job that runs the last three
"""

from __future__ import annotations


class ConversionError(ValueError):
    """Bad input for a conversion or an export: the message names the file and the cause, `hint` what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
