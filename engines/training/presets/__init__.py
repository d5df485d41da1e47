"""Training presets (Quick / Balanced / Thorough) as YAML data: label, description, config.

    presets = load_presets()          # {"quick": {"label", "description", "config"}, ...}
    presets["quick"]["config"]        # {"lora_r": 8, "lora_alpha": 16, "max_steps": 60, ...}

`config` holds overrides of a method's config dataclass (SFTJobConfig here). A test loads
every preset into the config.
"""

from __future__ import annotations

from pathlib import Path

ORDER = ("quick", "balanced", "thorough")


def load_presets(folder: str | Path | None = None) -> dict[str, dict]:
    import yaml

    base = Path(folder) if folder else Path(__file__).parent
    out: dict[str, dict] = {}
    for name in ORDER:
        data = yaml.safe_load((base / f"{name}.yaml").read_text(encoding="utf-8"))
        out[name] = {"label": data["label"], "description": data.get("description", ""), "config": dict(data.get("config") or {})}
    return out
