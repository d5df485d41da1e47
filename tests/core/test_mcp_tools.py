"""MCP tool servers as tool sources: a real server written with the official SDK
(tests/mcp_servers/units_server.py), over stdio and over streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.cli import main
from studio.tools.service import tools_service

SERVER = Path(__file__).resolve().parents[1] / "mcp_servers" / "units_server.py"
EXAMPLES = ["to_miles=convert 10 km to miles", "to_miles=how many miles is 42 km", "to_miles=what is 100 km in miles",
            "to_miles=5 kilometres in miles please", "to_miles=km to miles for 7", "to_miles=how far in miles is 21 km",
            "save_note=save a note that I parked on level 3", "save_note=note this down: call the dentist",
            "save_note=remember in my notes to buy milk", "save_note=write a note saying the wifi code is 1234",
            "save_note=add to my notes: pay rent", "save_note=save this to my notes please"]


def cli(capsys, *args) -> tuple[int, dict]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out else {}


def add_stdio(studio, capsys, notes: Path, name="units", timeout=20.0):
    cmd = f"{sys.executable} {SERVER}"
    args = ["tools", "add-mcp", "--home", str(studio.home.root), "--name", name, "--command", cmd,
            "--env", f"NOTES_FILE={notes}", "--timeout", str(timeout)]
    for e in EXAMPLES:
        args += ["--example", e]
    return cli(capsys, *args)


def test_a_stdio_server_is_added_listed_and_its_tools_run_from_the_cli(studio, tmp_path, capsys):
    home = str(studio.home.root)
    code, added = add_stdio(studio, capsys, tmp_path / "notes.txt")
    assert code == 0, added
    assert added["tools"] == ["units.to_miles", "units.save_note", "units.broken", "units.sleep"]
    assert "units.to_miles" in added["retrained"]["labels"]
    assert "units.broken, units.sleep" in added["warning"] and "to_miles" not in added["warning"]  # no examples given

    code, listed = cli(capsys, "tools", "list", "--home", home)
    tools = {t["name"]: t for t in listed["tools"]}
    assert tools["units.to_miles"]["kind"] == "mcp" and tools["units.to_miles"]["read_only"] is True
    assert tools["units.to_miles"]["parameters"]["properties"]["km"]["type"] == "number"
    assert tools["units.save_note"]["read_only"] is False  # the server does not mark it read-only
    assert listed["mcp_servers"][0]["name"] == "units"

    code, ran = cli(capsys, "tools", "run", "units.to_miles", "--args", '{"km": 10}', "--home", home)
    assert code == 0 and ran["ok"] and ran["result"]["text"] == "10 km = 6.21 miles"


def test_a_tool_that_is_not_read_only_runs_only_with_yes(studio, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    add_stdio(studio, capsys, notes)
    home = str(studio.home.root)
    code = main(["tools", "run", "units.save_note", "--args", '{"text": "buy milk"}', "--home", home, "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "needs your confirmation" in err and "--yes" in err
    assert not notes.exists()
    code, ran = cli(capsys, "tools", "run", "units.save_note", "--args", '{"text": "buy milk"}', "--yes", "--home", home)
    assert code == 0 and ran["ok"], ran
    assert notes.read_text() == "buy milk\n"


def test_failures_become_clear_tool_errors(studio, tmp_path, capsys):
    code, added = add_stdio(studio, capsys, tmp_path / "notes.txt", timeout=8)  # room for a slow start on a busy CI box
    assert code == 0, added
    svc = tools_service(studio)
    out = svc.run("units.broken", {})
    assert not out["ok"] and "units.broken returned an error" in out["error"]
    start = time.monotonic()
    out = svc.run("units.sleep", {"seconds": 60})
    assert not out["ok"] and "did not answer the call to sleep within 8 s" in out["error"]
    assert time.monotonic() - start < 30

    # a server that dies at start: adding it fails with its stderr, and nothing is stored
    code = main(["tools", "add-mcp", "--home", str(studio.home.root), "--name", "dead", "--json", "--command",
                 f"{sys.executable} -c \"import sys; print('no licence key', file=sys.stderr); sys.exit(3)\""])
    err = capsys.readouterr().err
    assert code == 2 and "Could not add the MCP server" in err and "no licence key" in err
    assert not [n for n in svc.tools() if n.startswith("dead.")]


@pytest.fixture
def http_server(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([sys.executable, str(SERVER), "--http", str(port)], stderr=subprocess.DEVNULL,
                            env={"NOTES_FILE": str(tmp_path / "http-notes.txt"), "PATH": "/usr/bin:/bin"})
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the MCP HTTP test server did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp", proc
    proc.kill()
    proc.wait()


def test_a_streamable_http_server_is_added_and_called_and_its_death_is_a_tool_error(studio, capsys, http_server):
    url, proc = http_server
    home = str(studio.home.root)
    code, added = cli(capsys, "tools", "add-mcp", "--home", home, "--name", "web", "--url", url, "--timeout", "5")
    assert code == 0 and "web.to_miles" in added["tools"]
    assert "warning" in added  # no examples: it says the router cannot reach these tools yet
    code, ran = cli(capsys, "tools", "run", "web.to_miles", "--args", '{"km": 5}', "--home", home)
    assert ran["ok"] and ran["result"]["text"] == "5 km = 3.11 miles"
    proc.kill()
    proc.wait()
    code, ran = cli(capsys, "tools", "run", "web.to_miles", "--args", '{"km": 5}', "--home", home)
    assert code == 1 and not ran["ok"] and "MCP server 'web'" in ran["error"]


def test_mcp_tools_run_in_the_tool_suite_like_builtin_ones(studio, tmp_path, capsys):
    from studio.tools.suite import run_suite

    add_stdio(studio, capsys, tmp_path / "notes.txt")
    suite = tmp_path / "suite.jsonl"
    rows = [{"query": "how many miles is 30 km", "expect": {"tool": "units.to_miles", "args": {"km": 30.0}}},
            {"query": "convert 8 km to miles", "expect": {"tool": "units.to_miles"}},
            {"query": "what is 17 * 23", "expect": {"tool": "calculator"}}]
    suite.write_text("\n".join(json.dumps(r) for r in rows))
    out = run_suite(studio, suite)
    assert out["metrics"]["accuracy"] == 1.0, out["rows"]
    assert out["metrics"]["arg_match_rate"] == 1.0


@pytest.mark.slow
def test_the_chat_routes_to_an_mcp_tool_calls_it_and_asks_before_a_write(studio_with_model, tmp_path, capsys):
    from studio.chat import ChatService

    notes = tmp_path / "notes.txt"
    add_stdio(studio_with_model, capsys, notes)
    chat = ChatService(studio_with_model)
    asked = []
    chat.confirm_tool = lambda name, args, desc: asked.append((name, args)) or False
    try:
        base = {"model": "gemma-3-270m (base)", "adapter": None}  # a base model: the extractors fill the arguments
        conv = chat.create_conversation(settings={"tools": ["units.to_miles", "units.save_note"], "max_tokens_fast": 8,
                                                  "temperature": 0.0, "models": {"fast": base}})
        msg = chat.send(conv["id"], "How many miles is 42 km?")
        call = msg["meta"]["tool_calls"][0]
        assert (call["tool"], call["args"], call["ok"]) == ("units.to_miles", {"km": 42.0}, True)
        assert call["result"]["text"] == "42 km = 26.10 miles"

        msg = chat.send(conv["id"], "Save a note that I parked on level 3")
        call = msg["meta"]["tool_calls"][0]
        assert call["tool"] == "units.save_note" and not call["ok"] and "did not allow" in call["error"]
        assert asked and asked[0][0] == "units.save_note"
        assert not notes.exists()
        assert msg["meta"]["finish_reason"] in ("stop", "eos", "length")  # the chat went on
    finally:
        chat.close()
