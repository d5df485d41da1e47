"""An OpenAI-compatible remote backend: llama.cpp's `llama-server`, vLLM, or any server that
speaks `POST /v1/completions` with `"stream": true` (server-sent events).

The chat renders the prompt with the model's template itself, so the remote model behaves
like a local one (budget forcing needs the raw prompt). Only the standard library is used:
one HTTP connection per request, read line by line; Stop closes the connection between
events, which ends the server's generation too.

    b = OpenAIBackend("http://gpu-box:8080", model="qwen3-8b")
    for ev in b.complete(prompt, CompletionParams(max_tokens=64)): ...
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator

from engines.inference.backend import BackendError, CompletionParams, Done, Event, Piece


class OpenAIBackend:
    label = "remote"

    def __init__(self, base_url: str, model: str = "", api_key: str | None = None, timeout: float = 60.0):
        u = urllib.parse.urlparse(base_url.rstrip("/"))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise BackendError(
                f"{base_url!r} is not an http(s) URL", hint="give the server's address, e.g. http://127.0.0.1:8080"
            )
        self.base_url = base_url.rstrip("/")
        self._u = u
        self.prefix = u.path.removesuffix("/v1")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.label = f"remote {model or ''}@{u.netloc}".replace(" @", " ")

    def _conn(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._u.scheme == "https" else http.client.HTTPConnection
        return cls(self._u.hostname, self._u.port, timeout=self.timeout)

    def _headers(self) -> dict:
        h = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def _post(self, path: str, body: dict) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._conn()
        try:
            conn.request("POST", self.prefix + path, body=json.dumps(body).encode(), headers=self._headers())
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise BackendError(
                f"Could not reach the inference server at {self.base_url}: {getattr(e, 'strerror', None) or e}",
                hint="check that the server (llama-server, vLLM) is running and the URL and port are right",
            ) from e
        if resp.status != 200:
            detail = resp.read(600).decode("utf-8", "replace").strip()
            conn.close()
            hint = "check the API key" if resp.status in (401, 403) else "check the model name and the server's log"
            raise BackendError(f"The server at {self.base_url} answered HTTP {resp.status}: {detail}", hint=hint)
        return conn, resp

    def complete(
        self, prompt: str, params: CompletionParams, should_stop: Callable[[], bool] | None = None, **_ignored
    ) -> Iterator[Event]:
        s = params.sampling
        body = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": int(params.max_tokens),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if s.seed >= 0:
            body["seed"] = s.seed
        if params.max_tokens <= 0:
            yield Done("length", self.count_tokens(prompt), 0)
            return
        conn, resp = self._post("/v1/completions", body)
        n = 0
        reason = "length"
        usage: dict = {}
        try:
            while True:
                if should_stop is not None and should_stop():
                    reason = "cancelled"
                    break
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException) as e:
                    raise BackendError(
                        f"The connection to {self.base_url} broke during generation: {e}",
                        hint="the server may have stopped; try again",
                    ) from e
                if not line:
                    break
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except json.JSONDecodeError as e:
                    raise BackendError(
                        f"The server at {self.base_url} sent a malformed event: {data[:120]!r}",
                        hint="is it an OpenAI-compatible server?",
                    ) from e
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    text = choice.get("text") or ""
                    if text:
                        n += 1
                        yield Piece(text, 1)
                    if choice.get("finish_reason"):
                        reason = {"stop": "stop", "length": "length"}.get(choice["finish_reason"], choice["finish_reason"])
        finally:
            conn.close()  # on Stop this also tells the server to stop generating
        yield Done(
            reason,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or n),
            int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
        )

    def count_tokens(self, text: str) -> int:
        """Ask the server's /tokenize (llama-server and vLLM have one); else estimate 4 chars per token."""
        try:
            conn, resp = self._post("/tokenize", {"model": self.model, "content": text, "prompt": text})
            try:
                d = json.loads(resp.read())
            finally:
                conn.close()
            toks = d.get("tokens")
            if isinstance(toks, list):
                return len(toks)
            if "count" in d:
                return int(d["count"])
        except (BackendError, ValueError, socket.timeout):
            pass
        return max(1, len(text) // 4)

    def models(self) -> list[str]:
        """The model ids the server offers (GET /v1/models)."""
        conn = self._conn()
        try:
            conn.request("GET", self.prefix + "/v1/models", headers=self._headers())
            resp = conn.getresponse()
            if resp.status != 200:
                raise BackendError(f"The server at {self.base_url} answered HTTP {resp.status} to /v1/models")
            return [m.get("id", "") for m in json.loads(resp.read()).get("data", [])]
        except (OSError, http.client.HTTPException) as e:
            raise BackendError(
                f"Could not reach the inference server at {self.base_url}: {e}",
                hint="check that the server is running and the URL and port are right",
            ) from e
        finally:
            conn.close()

    def close(self) -> None:
        pass


def wait_ready(backend: OpenAIBackend, timeout: float = 10.0) -> None:
    """Poll /v1/models until the server answers (for scripts that start one)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            backend.models()
            return
        except BackendError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
