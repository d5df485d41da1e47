"""Safe llama.cpp parameters: whether llama.cpp may put weights in its "extra buffer types".

llama.cpp repacks quantised weights into extra CPU buffer types (AMX tiles, AVX-512 repack)
for faster matrix products. On Intel CPUs with AMX, llama-cpp-python 0.3.36 crashes with
SIGSEGV in `ggml_backend_amx_mul_mat` on the first decode of the packaged gemma Q4_K_M;
`use_extra_bufts = False` avoids it. llama-cpp-python's `Llama` has no argument for it, so
`open_llama` sets it in the model parameters while the model loads.

Who decides:
- the model host (`engines.inference.host`) takes the choice from its caller and, when it was
  not forced, falls back to "off" by itself after a crash (see `LocalBackend`);
- code that opens llama.cpp in its own process (tests, benches) calls `open_llama()`, which
  is "off" unless `STUDIO_LLAMA_EXTRA_BUFTS=1`: a crash there would take the caller down.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref

EXTRA_BUFTS_ENV = "STUDIO_LLAMA_EXTRA_BUFTS"  # "1"/"on" or "0"/"off" forces the choice everywhere
# Test hook read by the model-host child: "first-decode" or "load" makes it kill itself with
# SIGSEGV at that point while extra buffer types are on, the way an AMX CPU crashes.
CRASH_HOOK_ENV = "STUDIO_TEST_HOST_CRASH"

_TRUE = ("1", "on", "true", "yes")
_FALSE = ("0", "off", "false", "no")
_load_lock = threading.Lock()  # the default-parameters swap below is process-wide
_open_models: weakref.WeakSet = weakref.WeakSet()


def parse_choice(value) -> bool | None:
    """"1"/"on"/True -> True, "0"/"off"/False -> False, None/""/"auto" -> None."""
    if value is None or isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    if v in ("", "auto"):
        return None
    raise ValueError(f"{value!r} is not a choice for extra buffer types; use on, off or auto")


def env_choice() -> bool | None:
    """The choice forced by STUDIO_LLAMA_EXTRA_BUFTS, or None when it is not set."""
    return parse_choice(os.environ.get(EXTRA_BUFTS_ENV))


def open_llama(*, extra_bufts: bool | None = None, **kwargs):
    """`llama_cpp.Llama(**kwargs)` with `use_extra_bufts` chosen.

    None: the environment's choice, else off (the safe choice for a process that must not
    die). Only one model loads at a time in a process through this function."""
    import llama_cpp
    import llama_cpp.llama_cpp as lib

    if extra_bufts is None:
        extra_bufts = bool(env_choice())
    with _load_lock:
        default = lib.llama_model_default_params

        def params():
            p = default()
            p.use_extra_bufts = extra_bufts
            return p

        lib.llama_model_default_params = params  # llama.py reads it through this module
        try:
            return closed_at_exit(llama_cpp.Llama(**kwargs))
        finally:
            lib.llama_model_default_params = default


def closed_at_exit(llm):
    """Register `llm` to be closed when the interpreter exits, if it is still open then.

    A `Llama` still alive at shutdown is freed by its `__del__` after llama_cpp's module
    globals are gone, which prints "TypeError: 'NoneType' object is not callable" from
    `free_model` (seen at the end of every test run); closed from atexit, its `__del__` has
    nothing left to do."""
    _open_models.add(llm)
    return llm


@atexit.register
def close_open_models() -> None:
    for llm in list(_open_models):
        try:
            llm.close()
        except Exception:  # noqa: BLE001 - exiting anyway; one model must not keep the rest open
            pass


def system_info() -> str:
    """llama.cpp's own line of CPU features and backends (AMX_INT8, AVX512, REPACK, ...)."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
