"""This machine's llama.cpp extra-buffer-types choice through the chat service and the CLI:
a host that crashes on its first decode (the host's crash hook, as on AMX CPUs) still answers,
the safe choice is remembered in the settings table for this machine, `studio info --json`
reports it with llama.cpp's system_info, and the setting and the environment force either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engines.inference.llama_params import CRASH_HOOK_ENV, EXTRA_BUFTS_ENV
from studio import llama_choice
from studio.chat import ChatService
from studio.errors import StudioError, UserError

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
FAST = {"max_tokens_fast": 3, "temperature": 0.0}


def _turn(chat: ChatService) -> dict:
    c = chat.create_conversation(settings=FAST)
    return chat.send(c["id"], "Name a colour.")


def _cli(*args, home) -> dict:
    p = subprocess.run([sys.executable, "-m", "studio", "--home", str(home), *args, "--json"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_a_chat_turn_survives_the_crash_and_this_machine_remembers_the_safe_choice(studio_with_model, monkeypatch):
    st = studio_with_model
    monkeypatch.delenv(EXTRA_BUFTS_ENV, raising=False)
    monkeypatch.setenv(CRASH_HOOK_ENV, "first-decode")
    assert llama_choice.current(st.db).source == "default"
    chat = ChatService(st)
    try:
        m = _turn(chat)
        assert m["content"].strip() and m["meta"]["stats"]["visible_tokens"] >= 1
        assert chat._backends["chat"].fell_back["signal"] == "SIGSEGV"
    finally:
        chat.close()
    choice = llama_choice.current(st.db)
    assert (choice.extra_bufts, choice.source) == (False, "remembered")
    assert "SIGSEGV on its first decode" in choice.reason
    assert "off (after a crash on this machine)" in choice.describe()

    # the next start begins with them off: the hook (armed only while they are on) never fires
    again = ChatService(st)
    try:
        assert _turn(again)["content"].strip()
        host = again._backends["chat"]
        assert host.extra_bufts is False and host.fell_back is None and host.last_load["extra_bufts"] is False
    finally:
        again.close()

    info = _cli("info", home=st.home.root)["llama_cpp"]
    assert "CPU :" in info["system_info"]
    assert info["extra_bufts"]["extra_bufts"] is False and info["extra_bufts"]["source"] == "remembered"

    # another computer opening the same data home does not inherit this machine's crash
    monkeypatch.setattr(llama_choice, "machine_id", lambda: "another-host / another CPU")
    assert llama_choice.current(st.db).source == "default"


def test_the_setting_and_the_environment_force_either_choice(studio_with_model, monkeypatch):
    st = studio_with_model
    monkeypatch.delenv(EXTRA_BUFTS_ENV, raising=False)
    forced = _cli("settings", "extra-bufts", "on", home=st.home.root)
    assert (forced["extra_bufts"], forced["source"], forced["forced"]) == (True, "setting", True)

    # forced on: a crash is reported, not worked around, and nothing is remembered
    monkeypatch.setenv(CRASH_HOOK_ENV, "first-decode")
    chat = ChatService(st)
    try:
        with pytest.raises(StudioError, match=r"exit code -11"):
            _turn(chat)
    finally:
        chat.close()
    assert llama_choice.current(st.db).source == "setting"
    assert not (llama_choice._stored(st.db).get("machines") or {})

    # the environment beats the setting: off, so the same turn now answers without a crash
    monkeypatch.setenv(EXTRA_BUFTS_ENV, "0")
    assert llama_choice.current(st.db).source == "env"
    chat = ChatService(st)
    try:
        assert _turn(chat)["content"].strip()
        assert chat._backends["chat"].fell_back is None and chat._backends["chat"].last_load["extra_bufts"] is False
    finally:
        chat.close()
    monkeypatch.setenv(EXTRA_BUFTS_ENV, "sometimes")
    with pytest.raises(UserError, match=EXTRA_BUFTS_ENV):
        llama_choice.current(st.db)

    monkeypatch.delenv(EXTRA_BUFTS_ENV)
    assert _cli("settings", "extra-bufts", "auto", home=st.home.root)["source"] == "default"
    assert _cli("settings", "extra-bufts", home=st.home.root)["extra_bufts"] is True
