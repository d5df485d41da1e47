"""Whether llama.cpp may use its extra buffer types on this machine, and why.

llama.cpp's extra buffer types (weight repacking, AMX tiles) are faster, but crash on some
CPUs (`engines.inference.llama_params`). The choice, strongest first:

1. `STUDIO_LLAMA_EXTRA_BUFTS=1|0` in the environment (forced);
2. the setting `studio settings extra-bufts on|off` (forced; `auto` clears it);
3. what this machine remembered after the model host crashed with them on and worked with
   them off (`remember_fallback`, called by the chat service);
4. on, with the host's one retry with them off if it crashes.

Stored in the `settings` table under one key: {"forced": bool | None, "machines": {machine:
{"extra_bufts": false, "reason", "signal", "at"}}}. A data home copied to another computer
does not carry one machine's crash over to the next.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from engines.inference.llama_params import EXTRA_BUFTS_ENV, env_choice, parse_choice
from studio.db import Setting
from studio.errors import UserError
from studio.hardware import _cpu_name

SETTING_KEY = "llama.extra_bufts"


@dataclass(frozen=True)
class ExtraBuftsChoice:
    extra_bufts: bool
    source: str  # "env" | "setting" | "remembered" | "default"
    reason: str
    machine: str

    @property
    def forced(self) -> bool:
        return self.source in ("env", "setting")

    def describe(self) -> str:
        """One line for the status bar."""
        state = "on" if self.extra_bufts else "off"
        why = {
            "env": f"forced by {EXTRA_BUFTS_ENV}",
            "setting": "forced by the setting",
            "remembered": "after a crash on this machine",
            "default": "default, falls back if it crashes",
        }[self.source]
        return f"llama.cpp extra buffers {state} ({why})"

    def to_dict(self) -> dict:
        return {**asdict(self), "forced": self.forced, "description": self.describe()}


def machine_id() -> str:
    return f"{platform.node()} / {_cpu_name()}"


def _stored(db) -> dict:
    with db.session() as s:
        row = s.get(Setting, SETTING_KEY)
        return dict(row.value or {}) if row is not None else {}


def _store(db, value: dict) -> None:
    with db.session() as s:
        s.merge(Setting(key=SETTING_KEY, value=value))


def current(db) -> ExtraBuftsChoice:
    machine = machine_id()
    try:
        env = env_choice()
    except ValueError as e:
        raise UserError(str(e), hint=f"set {EXTRA_BUFTS_ENV} to 1, 0 or leave it unset") from None
    if env is not None:
        return ExtraBuftsChoice(env, "env", f"{EXTRA_BUFTS_ENV}={'1' if env else '0'}", machine)
    stored = _stored(db)
    if stored.get("forced") is not None:
        return ExtraBuftsChoice(bool(stored["forced"]), "setting", "studio settings extra-bufts", machine)
    mine = (stored.get("machines") or {}).get(machine)
    if mine is not None:
        return ExtraBuftsChoice(bool(mine["extra_bufts"]), "remembered", mine.get("reason", ""), machine)
    return ExtraBuftsChoice(True, "default", "", machine)


def set_forced(db, value) -> ExtraBuftsChoice:
    """Force on or off ("on", "off", True, False), or "auto"/None to go back to the default."""
    try:
        choice = parse_choice(value)
    except ValueError as e:
        raise UserError(str(e), hint="on, off or auto") from None
    stored = _stored(db)
    stored["forced"] = choice
    _store(db, stored)
    return current(db)


def remember_fallback(db, info: dict) -> None:
    """The host crashed with extra buffer types on and worked with them off: keep it off here."""
    stored = _stored(db)
    machines = dict(stored.get("machines") or {})
    machines[machine_id()] = {
        "extra_bufts": False,
        "reason": info.get("reason", ""),
        "signal": info.get("signal"),
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    stored["machines"] = machines
    _store(db, stored)
