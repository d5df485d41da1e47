"""The model host: a child process that owns llama.cpp models and streams tokens back.

Why a child: llama.cpp is native code, and a crash in it (a corrupt file, out of memory) must
not take the window down. The parent (`LocalBackend`) puts requests on a queue; the child
answers with events on another queue. Only plain tuples cross the process boundary.

- A loaded `Llama` is kept and reused across turns (a small LRU of models), and llama.cpp's
  KV cache keeps the longest common prompt prefix, so a follow-up turn only evaluates the
  new tokens (`Done.cached_tokens` says how many were reused).
- Stop: the parent writes the request id into a shared integer. The child checks it before
  every token (so a stop ends generation within one token) and in llama.cpp's abort callback
  during prompt processing.
- GPU: `n_gpu_layers=-1` when llama.cpp was built with GPU offload.
- Extra buffer types (`engines.inference.llama_params`): the host loads models with the
  caller's choice. When that choice was not forced and the child dies from a signal while
  loading or on its first decode (llama.cpp's AMX kernels crash on some Intel CPUs), the
  parent restarts it once with them off, repeats the request, and reports the new choice
  through `on_fallback` once a decode has worked, so the caller can remember it.
- One request at a time per host: a `Llama` object is not thread-safe. Compare view panes
  each get their own host so both answers stream at once.

The child is started with multiprocessing's "spawn" method, which imports the parent's main
module again in the child: a script that uses a LocalBackend needs the usual
`if __name__ == "__main__":` guard (the `studio` entry points and pytest have one).

Run standalone for a quick check: `python -m engines.inference.host MODEL.gguf "prompt"`.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from engines.inference.backend import BackendError, CompletionParams, Done, Event, Piece
from engines.inference.llama_params import CRASH_HOOK_ENV, open_llama
from engines.inference.streaming import StopMatcher


@dataclass(frozen=True)
class ModelSpec:
    """Which model the host should load, and how."""

    model_path: str
    lora_path: str | None = None  # a GGUF LoRA adapter applied on top of model_path
    n_ctx: int = 4096  # room for a thinking budget of a few thousand tokens plus the answer
    n_threads: int | None = None  # None: every core (llama-cpp-python's default is half)
    n_gpu_layers: int | None = None  # None: all layers when llama.cpp can offload, else 0
    prompt_lookup: bool = False  # n-gram speculative decoding from the prompt (PROMPT_LOOKUP below)

    def key(self) -> tuple:
        return (self.model_path, self.lora_path, self.n_ctx, self.prompt_lookup)


# Prompt-lookup decoding: llama-cpp-python's LlamaPromptLookupDecoding drafts the tokens that
# followed the last n-gram where it appeared earlier in the context; one decode verifies them.
PROMPT_LOOKUP = {"max_ngram_size": 3, "num_pred_tokens": 10}  # llama-cpp-python's defaults are 2 and 10


def check_files(spec: ModelSpec) -> None:
    """Fail early, in the parent, on files that are missing or not GGUF."""
    for what, p in (("model", spec.model_path), ("adapter", spec.lora_path)):
        if p is None:
            continue
        path = Path(p)
        if not path.is_file():
            raise BackendError(
                f"The {what} file {path} does not exist",
                hint="check the models list; re-export or re-import it if it was moved or deleted",
            )
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic != b"GGUF":
            raise BackendError(
                f"The {what} file {path} is not a GGUF file (it starts with {magic!r})",
                hint="the file is corrupt or of another format; export it to GGUF again",
            )


# ---- parent side ------------------------------------------------------------------------------
class LocalBackend:
    """llama.cpp through a model-host child process. Safe to use from one thread at a time
    (a lock serialises requests); close() ends the child.

    extra_bufts: whether llama.cpp may use its extra buffer types. fallback: when the child dies
    from a signal before its first decode finished, retry once with them off; `on_fallback`
    (called on the requesting thread) then gets {"extra_bufts": False, "reason", "signal"}
    after the retry decoded, and `self.extra_bufts` stays off for this backend."""

    label = "llama.cpp"

    def __init__(
        self,
        spec: ModelSpec | None = None,
        *,
        max_models: int = 2,
        extra_bufts: bool = True,
        fallback: bool = True,
        on_fallback: Callable[[dict], None] | None = None,
    ):
        self.spec = spec
        self.max_models = max_models
        self.extra_bufts = extra_bufts
        self.fallback = fallback
        self.on_fallback = on_fallback
        self.fell_back: dict | None = None  # set once a fallback happened and its retry decoded
        self._fallback_pending: dict | None = None
        self._decoded = False  # the current child finished a decode: a crash now is not the AMX one
        self._loaded = False
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self.last_load: dict = {}

    # lifecycle
    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            return
        self._requests = self._ctx.Queue()
        self._events = self._ctx.Queue()
        self._cancel = self._ctx.Value("q", 0, lock=False)
        self._decoded = self._loaded = False  # what the current child has done so far
        self._proc = self._ctx.Process(
            target=_host_main,
            args=(self._requests, self._events, self._cancel, self.max_models, self.extra_bufts),
            name="model-host",
            daemon=True,
        )
        self._proc.start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    def close(self) -> None:
        got = self._lock.acquire(timeout=0.5)  # a turn in flight must not block closing the window
        try:
            proc, self._proc = self._proc, None
        finally:
            if got:
                self._lock.release()
        if proc is None:
            return
        if proc.is_alive():
            try:
                self._cancel.value = 1 << 62
                self._requests.put(("shutdown",))
            except (OSError, ValueError):
                pass
            proc.join(3)
            if proc.is_alive():
                proc.kill()
                proc.join(2)
        for q in (self._requests, self._events):
            q.close()
            q.cancel_join_thread()

    def __del__(self):  # a forgotten backend must not leave a child behind
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # requests
    def _call(self, op: str, spec: ModelSpec, payload, should_stop=None) -> Iterator[tuple]:
        check_files(spec)
        with self._lock:
            self._ensure_started()
            rid = next(self._ids)
            request = (op, rid, asdict(spec), payload)
            self._requests.put(request)
            finished = yielded = False
            try:
                while True:
                    try:
                        ev = self._events.get(timeout=0.05)
                    except queue.Empty:
                        if should_stop is not None and should_stop():
                            self._cancel.value = rid
                        if not self._proc.is_alive():
                            code = self._proc.exitcode
                            self._proc = None
                            if self._may_fall_back(code, yielded):
                                self._start_fallback(code, "on its first decode" if self._loaded else "while loading")
                                self._ensure_started()
                                self._requests.put(request)
                                continue
                            retried = ""
                            if self._fallback_pending is not None:  # off did not help: not the AMX crash
                                retried = " (also with llama.cpp's extra buffer types off)"
                                self.extra_bufts, self._fallback_pending = True, None
                            raise BackendError(
                                f"The model host stopped unexpectedly (exit code {code}) while serving "
                                f"{Path(spec.model_path).name}{retried}",
                                hint="the model file may be damaged or too big for the memory; "
                                "the next message starts a fresh host",
                            ) from None
                        continue
                    if ev[1] != rid:
                        continue  # the tail of an earlier, abandoned request
                    if ev[0] == "error":
                        finished = True
                        raise BackendError(ev[2], ev[3])
                    if ev[0] == "loaded":
                        self.last_load = ev[2]
                        self._loaded = True
                        continue
                    if op in ("complete", "json") and ev[0] in ("token", "done"):
                        self._decoded = True
                        self._finish_fallback()
                    if ev[0] == "done":
                        finished = True
                    yield ev
                    yielded = True
                    if finished:
                        return
                    if should_stop is not None and should_stop():
                        self._cancel.value = rid
            finally:
                if not finished:  # the consumer closed us early: stop the child's work too
                    self._cancel.value = rid

    def _may_fall_back(self, exitcode: int | None, yielded: bool) -> bool:
        """A death by signal before any decode finished, with extra buffer types on and not forced."""
        return (
            exitcode is not None and exitcode < 0 and self.extra_bufts and self.fallback
            and not self._decoded and not yielded
        )

    def _start_fallback(self, exitcode: int, stage: str) -> None:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        self.extra_bufts = False
        self._fallback_pending = {
            "extra_bufts": False,
            "signal": name,
            "reason": f"the model host died from {name} {stage} with llama.cpp's extra buffer types on; "
            "it works with them off",
        }

    def _finish_fallback(self) -> None:
        info, self._fallback_pending = self._fallback_pending, None
        if info is None:
            return
        self.fell_back = info
        if self.on_fallback is not None:
            self.on_fallback(dict(info))

    def complete(
        self, prompt: str, params: CompletionParams, should_stop: Callable[[], bool] | None = None, *, spec: ModelSpec | None = None
    ) -> Iterator[Event]:
        spec = spec or self.spec
        if spec is None:
            raise BackendError("No model chosen", hint="pick a model first")
        payload = {
            "prompt": prompt,
            "max_tokens": int(params.max_tokens),
            "stop": list(params.stop),
            "sampling": params.sampling.to_dict(),
        }
        for ev in self._call("complete", spec, payload, should_stop):
            if ev[0] == "token":
                yield Piece(ev[2], ev[3])
            else:
                d = ev[2]
                yield Done(
                    d["finish_reason"], d["prompt_tokens"], d["completion_tokens"], d["cached_tokens"],
                    d.get("stop_string"), d.get("info", {}),
                )

    def count_tokens(self, text: str, *, spec: ModelSpec | None = None) -> int:
        for ev in self._call("count", spec or self.spec, text):
            return int(ev[2]["tokens"])
        return 0

    def complete_json(self, prompt: str, schema: dict, max_tokens: int = 128, *, spec: ModelSpec | None = None) -> str:
        """Greedy completion constrained to a JSON schema (a grammar): tool calls that always parse."""
        for ev in self._call("json", spec or self.spec, {"prompt": prompt, "schema": schema, "max_tokens": int(max_tokens)}):
            return ev[2]["text"]
        return ""

    def load(self, spec: ModelSpec | None = None) -> dict:
        """Load (or find loaded) a model; returns load info (seconds, gpu layers, context)."""
        for ev in self._call("load", spec or self.spec, None):
            return ev[2]
        return {}


def _draft_kwargs(spec: ModelSpec) -> dict:
    if not spec.prompt_lookup:
        return {}
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    # A draft model makes llama-cpp-python 0.3.36 keep every token's logits, but it sizes that
    # array from the logits_all argument: without logits_all=True a prompt past n_batch (512)
    # tokens fails to broadcast. The price: one row of n_vocab floats per token held (1 MB for gemma).
    return {"draft_model": LlamaPromptLookupDecoding(**PROMPT_LOOKUP), "logits_all": True}


# ---- child side -------------------------------------------------------------------------------
def _host_main(requests, events, cancel, max_models: int, extra_bufts: bool = True) -> None:
    """The child's loop: load on demand, serve one request at a time, until "shutdown"."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is for the parent
    host = _Host(events, cancel, max_models, extra_bufts)
    parent = os.getppid()
    # never wait at exit to flush events nobody will read (the parent may be gone)
    events.cancel_join_thread()
    while True:
        try:
            req = requests.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # orphaned: the app is gone
                os._exit(0)
            continue
        if req[0] == "shutdown":
            return
        op, rid, spec, payload = req
        host.current = rid  # the abort callback must not see an earlier request's Stop
        try:
            llm = host.model(rid, ModelSpec(**spec))
            if op == "complete":
                host.complete(rid, llm, payload)
            elif op == "count":
                n = len(llm.tokenize(payload.encode("utf-8"), add_bos=False, special=True))
                events.put(("done", rid, {"tokens": n}))
            elif op == "json":
                from engines.tools.function_call import llama_completer

                host.before_decode()
                text = llama_completer(llm)(payload["prompt"], payload["schema"], payload["max_tokens"])
                events.put(("done", rid, {"text": text}))
            elif op == "load":
                events.put(("done", rid, host.info[ModelSpec(**spec).key()]))
        except BackendError as e:
            events.put(("error", rid, e.message, e.hint))
        except Exception as e:  # noqa: BLE001 - anything else still reaches the user, with its cause
            events.put(("error", rid, f"The model host failed: {type(e).__name__}: {e}", None))


class _Host:
    def __init__(self, events, cancel, max_models: int, extra_bufts: bool = True):
        self.events = events
        self.cancel = cancel
        self.max_models = max_models
        self.extra_bufts = extra_bufts
        self.crash_hook = os.environ.get(CRASH_HOOK_ENV, "") if extra_bufts else ""
        self.models: OrderedDict[tuple, object] = OrderedDict()
        self.info: dict[tuple, dict] = {}
        self.current = 0  # the request being served, for the abort callback
        self._abort_cb = None

    def model(self, rid: int, spec: ModelSpec):
        key = spec.key()
        if key in self.models:
            self.models.move_to_end(key)
            return self.models[key]
        import llama_cpp

        while len(self.models) >= self.max_models:
            _k, old = self.models.popitem(last=False)
            self.info.pop(_k, None)
            old.close()
        gpu = spec.n_gpu_layers
        if gpu is None:
            gpu = -1 if llama_cpp.llama_supports_gpu_offload() else 0
        threads = spec.n_threads or max(1, min(8, os.cpu_count() or 1))
        t = time.perf_counter()
        if self.crash_hook == "load":
            os.kill(os.getpid(), signal.SIGSEGV)
        try:
            llm = open_llama(
                extra_bufts=self.extra_bufts,
                model_path=spec.model_path,
                lora_path=spec.lora_path,
                n_ctx=spec.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=gpu,
                verbose=False,
                **_draft_kwargs(spec),
            )
        except (ValueError, RuntimeError) as e:
            what = f"adapter {Path(spec.lora_path).name} on " if spec.lora_path else ""
            raise BackendError(
                f"llama.cpp could not load the {what}model {Path(spec.model_path).name}: {e}",
                hint="the file may be corrupt, truncated, or an architecture this llama.cpp does not know; "
                "an adapter must match its base model",
            ) from e
        self._install_abort(llm)
        self.models[key] = llm
        self.info[key] = {
            "load_s": round(time.perf_counter() - t, 3),
            "n_gpu_layers": gpu,
            "n_ctx": llm.n_ctx(),
            "n_threads": threads,
            "extra_bufts": self.extra_bufts,
        }
        self.events.put(("loaded", rid, self.info[key]))
        return llm

    def before_decode(self) -> None:
        """The test hook's "first-decode": die the way llama.cpp's AMX kernels do on such CPUs."""
        if self.crash_hook == "first-decode":
            os.kill(os.getpid(), signal.SIGSEGV)

    def _install_abort(self, llm) -> None:
        """llama.cpp asks this between compute steps of a decode (long prompts)."""
        import llama_cpp

        if self._abort_cb is None:
            self._abort_cb = llama_cpp.ggml_abort_callback(lambda _data: self.cancel.value >= self.current)
        llama_cpp.llama_set_abort_callback(llm._ctx.ctx, self._abort_cb, None)

    def complete(self, rid: int, llm, p: dict) -> None:
        import codecs

        import llama_cpp

        self.current = rid
        s = p["sampling"]
        if s.get("seed", -1) >= 0:
            llm.set_seed(int(s["seed"]))
        tokens = llm.tokenize(p["prompt"].encode("utf-8"), add_bos=True, special=True)
        n_ctx = llm.n_ctx()
        if len(tokens) >= n_ctx - 1:
            raise BackendError(
                f"The conversation is {len(tokens)} tokens long, more than the model's context of {n_ctx}",
                hint="start a new conversation or delete earlier messages",
            )
        max_tokens = max(0, min(int(p["max_tokens"]), n_ctx - len(tokens) - 1))
        cached = 0
        for a, b in zip(llm._input_ids[: llm.n_tokens], tokens):
            if a != b:
                break
            cached += 1
        vocab = llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        matcher = StopMatcher(p["stop"])
        n = pending = 0
        reason = "length"
        gen = llm.generate(
            tokens,
            top_k=int(s["top_k"]),
            top_p=float(s["top_p"]),
            min_p=float(s["min_p"]),
            temp=float(s["temperature"]),
            repeat_penalty=float(s["repeat_penalty"]),
            reset=True,
        )
        try:
            if max_tokens == 0 or self.cancel.value >= rid:
                reason = "cancelled" if self.cancel.value >= rid else "length"
            else:
                self.before_decode()
                for tok in gen:
                    if self.cancel.value >= rid:
                        reason = "cancelled"
                        break
                    if llama_cpp.llama_vocab_is_eog(vocab, tok):
                        reason = "eos"
                        break
                    n += 1
                    pending += 1
                    text, stopped = matcher.feed(decoder.decode(llm.detokenize([tok])))
                    if text:
                        self.events.put(("token", self.current, text, pending))
                        pending = 0
                    if stopped:
                        reason = "stop"
                        break
                    if n >= max_tokens:
                        break
        except RuntimeError as e:  # llama_decode returned 2: aborted during prompt processing
            if self.cancel.value < rid:
                raise
            reason = "cancelled"
            llm.reset()
        finally:
            gen.close()
        if reason != "stop":
            tail = matcher.flush() + decoder.decode(b"", final=True)
            if tail or pending:
                self.events.put(("token", rid, tail, pending))
        self.events.put(
            (
                "done",
                rid,
                {
                    "finish_reason": reason,
                    "prompt_tokens": len(tokens),
                    "completion_tokens": n,
                    "cached_tokens": cached,
                    "stop_string": matcher.stopped_on,
                    "info": {"pid": os.getpid()},
                },
            )
        )


if __name__ == "__main__":  # python -m engines.inference.host MODEL.gguf "prompt"
    import sys

    b = LocalBackend(ModelSpec(sys.argv[1]))
    for ev in b.complete(sys.argv[2], CompletionParams(max_tokens=48)):
        print(ev.text if isinstance(ev, Piece) else f"\n{ev}", end="", flush=True)
    b.close()
