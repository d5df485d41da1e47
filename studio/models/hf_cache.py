"""Where a registered model's Hugging Face form lives, and making it on demand.

Training needs a Hugging Face directory. A GGUF base is converted once (dequantised; about a
minute for gemma-3-270m, mostly the tokenizer) into `models/<file stem>-hf/` and reused. The
conversion is heavy (torch): call `ensure_hf_model` from a job child, the CLI or a test,
never from the GUI thread. A training job passes `hf_dir_for(...)` to its child, which
converts on first use (engines.conversion.gguf_to_hf is safe against two at once).
"""

from __future__ import annotations

from pathlib import Path

from studio.db import Model
from studio.errors import StudioError
from studio.home import Home


def hf_dir_for(home: Home, model: Model) -> Path:
    """The HF directory training should load for this model (it may not exist yet)."""
    if model.format in ("hf", "peft"):
        return Path(model.path)
    if model.format == "gguf":
        return home.models / f"{Path(model.path).stem}-hf"
    raise StudioError(
        f"{model.name!r} is a {model.format} file, which cannot be trained",
        hint="pick a base model (a GGUF model file or a Hugging Face directory)",
    )


def ensure_hf_model(studio, model: Model | str | int) -> Path:
    """Return the HF directory of a model, converting a GGUF base on first use (blocking)."""
    if not isinstance(model, Model):
        model = studio.registry.get(model)
    out = hf_dir_for(studio.home, model)
    if model.format != "gguf":
        return out
    from engines.conversion.gguf_to_hf import ConversionError, convert_gguf_to_hf, is_converted

    if not is_converted(out):
        try:
            convert_gguf_to_hf(model.path, out, log=lambda _m: None)
        except ConversionError as e:
            raise StudioError(e.message, hint=e.hint) from e
    with studio.db.session() as s:
        m = s.get(Model, model.id)
        if m is not None and (m.meta or {}).get("hf_dir") != str(out):
            m.meta = {**(m.meta or {}), "hf_dir": str(out)}
    return out
