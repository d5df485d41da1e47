"""llama.cpp's extra buffer types: the safe-parameters helper, and the model host's one retry
with them off after a crash (driven by the host's crash hook, the way AMX CPUs crash), on the
real gemma-3-270m GGUF in real host children."""

from __future__ import annotations

import pytest

from engines.inference.backend import BackendError, CompletionParams, Done, Piece, Sampling
from engines.inference.host import LocalBackend, ModelSpec
from engines.inference.llama_params import CRASH_HOOK_ENV, EXTRA_BUFTS_ENV, env_choice, open_llama, parse_choice

GREEDY = CompletionParams(max_tokens=4, sampling=Sampling(temperature=0.0))
PROMPT = "The three primary colours are red, yellow and"


def test_choices_parse_and_the_environment_forces_one(monkeypatch):
    assert [parse_choice(v) for v in ("1", "on", "0", "OFF", "auto", "", None, False)] == [
        True, True, False, False, None, None, None, False]
    with pytest.raises(ValueError, match="on, off or auto"):
        parse_choice("maybe")
    monkeypatch.delenv(EXTRA_BUFTS_ENV, raising=False)
    assert env_choice() is None
    monkeypatch.setenv(EXTRA_BUFTS_ENV, "0")
    assert env_choice() is False


@pytest.mark.slow
@pytest.mark.parametrize("on", [True, False])
def test_open_llama_sets_the_extra_buffer_types(gemma_gguf, capfd, on):
    """llama.cpp logs a CPU_REPACK buffer only when extra buffer types are in use."""
    llm = open_llama(extra_bufts=on, model_path=str(gemma_gguf), n_ctx=64, verbose=True)
    log = capfd.readouterr().err
    llm.close()
    assert "CPU_Mapped model buffer" in log
    assert ("CPU_REPACK model buffer" in log) is on
    import llama_cpp.llama_cpp as lib

    assert lib.llama_model_default_params().use_extra_bufts  # the library default is back


def _text(backend) -> tuple[str, Done]:
    evs = list(backend.complete(PROMPT, GREEDY))
    return "".join(e.text for e in evs if isinstance(e, Piece)), evs[-1]


@pytest.fixture
def crashing_host(gemma_gguf, monkeypatch):
    """make(hook, **backend_kw) -> (a LocalBackend whose child crashes at `hook`, the fallbacks it reported)."""
    made = []

    def make(hook: str, **kw):
        monkeypatch.setenv(CRASH_HOOK_ENV, hook)
        seen: list[dict] = []
        made.append(LocalBackend(ModelSpec(str(gemma_gguf), n_ctx=256), on_fallback=seen.append, **kw))
        return made[-1], seen

    yield make
    for b in made:
        b.close()


@pytest.mark.slow
def test_host_retries_once_with_extra_buffer_types_off_after_a_crash_on_the_first_decode(
        crashing_host, gemma_gguf, monkeypatch):
    b, seen = crashing_host("first-decode")
    assert b.load()["extra_bufts"] is True  # loading works; the first decode is what crashes
    first_pid = b.pid
    text, done = _text(b)
    assert done.finish_reason == "length" and done.completion_tokens == 4 and text.strip()
    assert b.pid != first_pid and b.last_load["extra_bufts"] is False
    assert b.extra_bufts is False
    assert len(seen) == 1 and seen[0]["signal"] == "SIGSEGV" and "on its first decode" in seen[0]["reason"]
    _text(b)  # later turns run on the same child, and report nothing new
    assert len(seen) == 1
    # the answer is the one llama.cpp gives with extra buffer types off and no crash at all
    monkeypatch.delenv(CRASH_HOOK_ENV)
    plain = LocalBackend(ModelSpec(str(gemma_gguf), n_ctx=256), extra_bufts=False)
    try:
        assert _text(plain)[0] == text
    finally:
        plain.close()


@pytest.mark.slow
def test_a_crash_while_loading_is_reported_only_after_the_retry_decoded(crashing_host):
    b, seen = crashing_host("load")
    assert b.load()["extra_bufts"] is False
    assert seen == []  # a load alone does not prove the model computes with them off
    _text(b)
    assert len(seen) == 1 and "while loading" in seen[0]["reason"]


@pytest.mark.slow
def test_a_forced_choice_is_not_overridden_by_a_crash(crashing_host):
    b, seen = crashing_host("first-decode", fallback=False)
    with pytest.raises(BackendError, match=r"exit code -11"):
        _text(b)
    assert b.extra_bufts is True and seen == []


@pytest.mark.slow
@pytest.mark.parametrize("opener", ["open_llama", "token_counter"])
def test_a_model_alive_at_exit_is_closed_without_a_traceback(gemma_gguf, opener):
    """llama-cpp's `__del__` at shutdown ran after its module globals were cleared and printed
    "TypeError: 'NoneType' object is not callable" (three times at the end of each test run).
    A model held by a module that is torn down after llama_cpp shows it; the studio's openers
    close such models at exit."""
    import subprocess
    import sys

    script = f"""
import json
import llama_cpp  # imported after json, as in any process
from engines.inference.llama_params import open_llama
from studio.datasets.tokens import TokenCounter
path = {str(gemma_gguf)!r}
opened = {{"open_llama": lambda: open_llama(model_path=path, vocab_only=True, verbose=False),
          "token_counter": lambda: TokenCounter(path)._llm}}
json._held = opened[{opener!r}]()  # json was imported before llama_cpp, so it is cleared after it
print("opened")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "opened" in out.stdout, out.stderr[-2000:]
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
