"""Pull a model from the Hugging Face Hub into the model store (optional, online only).

    model = pull_model(studio, "google/gemma-3-270m", progress=lambda done, total: ...)

Nothing else in the studio needs the network. Offline (HF_HUB_OFFLINE=1, or no connection)
this fails at once with a StudioError that says so, and leaves nothing behind: files are
downloaded into a temporary folder that is renamed into models/ only when complete.
Blocking: call it from a worker thread or the CLI, never on the GUI thread.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Callable

from studio.errors import StudioError, UserError

WANTED = ("*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.gguf")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def pull_model(studio, repo_id: str, *, name: str | None = None,
               progress: Callable[[int, int], None] | None = None):
    """Download repo_id's model files (bytes done / total reported) and register the folder."""
    if not _REPO.match(repo_id or ""):
        raise UserError(f"{repo_id!r} is not a Hub repo id", hint="write it as owner/name, e.g. google/gemma-3-270m")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise StudioError(
            f"Cannot pull {repo_id}: the Hugging Face Hub is switched off (HF_HUB_OFFLINE=1)",
            hint="download the model elsewhere and use Import with the GGUF file or the model folder",
        )
    import fnmatch

    from huggingface_hub import HfApi, hf_hub_download

    target = studio.home.models / repo_id.replace("/", "--")
    if target.exists():
        raise UserError(f"{target} exists already", hint="import that folder, or delete it first")
    try:
        info = HfApi().model_info(repo_id, files_metadata=True)
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, gated: all end here
        raise StudioError(
            f"Cannot pull {repo_id} from the Hugging Face Hub: {type(e).__name__}: {str(e).splitlines()[0][:200]}",
            hint="check the repo id and the network; offline, use Import with a local file or folder",
        ) from e
    files = [s for s in info.siblings if any(fnmatch.fnmatch(s.rfilename, w) for w in WANTED)]
    total = sum(s.size or 0 for s in files)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    done = 0
    try:
        for s in files:
            hf_hub_download(repo_id, s.rfilename, local_dir=tmp)
            done += s.size or 0
            if progress:
                progress(done, total)
        os.replace(tmp, target)
    except Exception as e:  # noqa: BLE001
        shutil.rmtree(tmp, ignore_errors=True)
        raise StudioError(f"Pulling {repo_id} failed: {type(e).__name__}: {e}", hint="try again when online") from e
    model_path = next(iter(sorted(Path(target).glob("*.gguf"))), target)
    m = studio.registry.import_path(model_path, name or repo_id)
    from studio.db import Model

    with studio.db.session() as s:
        row = s.get(Model, m.id)
        row.meta = {**(row.meta or {}), "managed": True, "hub_repo": repo_id}
    return studio.registry.get(m.id)
