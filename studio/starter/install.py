"""The shipped starter assistant: registered on the first start of a home, the chat's default.

    m = ensure_starter(studio)    # the registered GGUF LoRA, or None when no adapter is packaged

The adapter (studio/starter/data/starter.gguf, a GGUF LoRA of a few MB) was built by
`studio recipe run starter` and copied in with `studio recipe ship`; starter.json beside it
holds its sha256, its chat template and its lineage (recipe, curriculum hash, job configs).
It is copied into the home's models/ folder (temp name, checked, renamed) and registered on top
of the packaged base model, which stays available with its semi-finished banner. A user who
deletes it is not overruled: the installed hash is remembered and it is not added again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from studio.errors import StudioError

STARTER_NAME = "gemma-3-270m starter assistant"
INSTALLED_KEY = "starter.installed"


def manifest_path() -> Path:
    from studio.starter.recipe import STARTER_DIR

    return STARTER_DIR / "starter.json"


def read_manifest() -> dict | None:
    p = manifest_path()
    if not p.is_file():
        return None
    return json.loads(p.read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ensure_starter(studio):
    from studio.db import Model, Setting
    from studio.errors import NotFound
    from studio.models.registry import DEFAULT_MODEL_NAME

    manifest = read_manifest()
    if manifest is None:
        return None
    try:
        return studio.registry.get(STARTER_NAME)
    except NotFound:
        pass
    with studio.db.session() as s:
        row = s.get(Setting, INSTALLED_KEY)
        if row is not None and (row.value or {}).get("sha256") == manifest["sha256"]:
            return None  # installed once and deleted by the user since
    src = manifest_path().parent / manifest["file"]
    target = studio.home.models / "starter" / f"starter-{manifest['sha256'][:12]}.gguf"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or _sha256(target) != manifest["sha256"]:
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        shutil.copyfile(src, tmp)
        if _sha256(tmp) != manifest["sha256"]:
            tmp.unlink(missing_ok=True)
            raise StudioError(f"{src}: the packaged starter adapter does not match its recorded sha256",
                              hint="reinstall Model Studio; the package data is damaged")
        os.replace(tmp, target)
    base = studio.registry.get(DEFAULT_MODEL_NAME)
    m = Model(
        name=STARTER_NAME, kind="export", format="gguf-lora", path=str(target),
        architecture=base.architecture, context_length=base.context_length, file_size=target.stat().st_size,
        quantization="F32 LoRA", chat_template=manifest["chat_template"], is_instruct=True, parent_id=base.id,
        meta={"managed": True, "starter": True, "thinking": True, "base_gguf": base.path, "type": "lora",
              "template_name": manifest.get("template_name") or "gemma", "sha256": manifest["sha256"],
              "recipe": manifest["recipe"],
              "note": "The starter assistant: gemma-3-270m after the studio's starter recipe "
                      "(SFT -> DPO -> GRPO). Small: it declines facts it cannot know; turn on tools for them."},
    )
    studio.registry.add(m)
    with studio.db.session() as s:
        s.merge(Setting(key=INSTALLED_KEY, value={"sha256": manifest["sha256"]}))
    return studio.registry.get(STARTER_NAME)
