"""The "export" job: a PEFT LoRA adapter -> a GGUF LoRA adapter, or a merged GGUF (f16 / q8_0).

Runs in a job child (`python -m engines.run_job JOB_DIR`), started by studio.models.exports.
The files are written into the job's output folder; studio.models.exports.finish_export_job
then moves them into the home's exports/ and registers them, so exports/ only ever holds
finished files.

Config (plain JSON, see ExportConfig):
    {"adapter_dir": ..., "base_gguf": ..., "stem": "my-adapter-lora", "merge": false,
     "type": "lora" | "f16" | "q8_0", "chat_template": "...", "template_name": "gemma"}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from engines.conversion.lora_to_gguf import ConversionError

EXPORT_TYPES = ("lora", "f16", "q8_0")


@dataclass
class ExportConfig:
    adapter_dir: str = field(metadata={"help": "the PEFT LoRA folder (adapter_config.json + weights)"})
    base_gguf: str = field(metadata={"help": "the base model's GGUF: the adapter's names and shapes are checked on it"})
    stem: str = field(metadata={"help": "file name without extension for the .gguf and the .Modelfile"})
    type: str = field(default="lora", metadata={"help": "lora (adapter only) | f16 | q8_0 (merged model)"})
    chat_template: str | None = field(default=None, metadata={"help": "Jinja template the adapter was trained with"})
    template_name: str | None = field(default=None, metadata={"help": "gemma | chatml | llama3: picks the Ollama TEMPLATE"})
    name: str | None = field(default=None, metadata={"help": "general.name written into the GGUF"})

    def __post_init__(self):
        if self.type not in EXPORT_TYPES:
            raise ConversionError(f"unknown export type {self.type!r}", hint=f"choose one of {', '.join(EXPORT_TYPES)}")
        if not self.stem or "/" in self.stem or self.stem.startswith("."):
            raise ConversionError(f"bad export file name {self.stem!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "ExportConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if d.get("merge") and known.get("type", "lora") == "lora":
            known["type"] = "f16"
        return cls(**known)


def export(cfg: ExportConfig, out_dir: str | Path, progress=None, log=print) -> dict:
    """Write <stem>.gguf and <stem>.Modelfile into out_dir. Returns what was written."""
    from engines.conversion.lora_to_gguf import base_spec_from_gguf, convert_lora_to_gguf
    from engines.conversion.merge_export import merge_lora_into_gguf
    from engines.conversion.modelfile import build_modelfile, write_modelfile

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gguf_path = out_dir / f"{cfg.stem}.gguf"
    base = str(Path(cfg.base_gguf).absolute())
    if cfg.type == "lora":
        log(f"converting {cfg.adapter_dir} to a GGUF LoRA adapter for {base}")
        facts = convert_lora_to_gguf(cfg.adapter_dir, gguf_path, base_spec_from_gguf(base), name=cfg.name, progress=progress)
        modelfile = build_modelfile(from_path=base, adapter_path=f"./{gguf_path.name}", template_name=cfg.template_name)
        fmt = "gguf-lora"
    else:
        log(f"merging {cfg.adapter_dir} into {base} and writing {cfg.type}")
        facts = merge_lora_into_gguf(
            base, cfg.adapter_dir, gguf_path, out_type=cfg.type, chat_template=cfg.chat_template,
            name=cfg.name, progress=progress,
        )
        modelfile = build_modelfile(from_path=f"./{gguf_path.name}", template_name=cfg.template_name)
        fmt = "gguf"
    mf_path = write_modelfile(out_dir / f"{cfg.stem}.Modelfile", modelfile)
    return {**facts, "path": str(gguf_path), "modelfile": str(mf_path), "format": fmt,
            "type": cfg.type, "base_gguf": base, "config": asdict(cfg)}


def run_job(config: dict, ctx) -> dict:
    cfg = ExportConfig.from_dict(config)
    result = export(cfg, ctx.output_dir, progress=lambda i, n: ctx.progress(i, n), log=ctx.log)
    ctx.artifact("export", result["path"], format=result["format"], export_type=result["type"])
    ctx.artifact("modelfile", result["modelfile"])
    result.pop("config")
    return result
