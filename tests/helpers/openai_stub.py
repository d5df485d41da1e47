"""A tiny scripted OpenAI-compatible server on 127.0.0.1, for tests.

It speaks the same wire protocol as llama-server and vLLM for `POST /v1/completions` (with
server-sent events when `"stream": true`), `GET /v1/models` and `POST /tokenize`. What it
"generates" comes from a script: a function from the prompt to the full completion text,
streamed one word-piece per event, honouring `max_tokens` and `stop` like a real server.

    with StubServer(lambda prompt: "Paris.") as srv:
        OpenAIBackend(srv.url, model="stub").complete(...)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from studio.serve.server import send_json

_PIECE = re.compile(r"\s*\S{1,4}|\s+")  # a "token": up to 4 characters, leading space kept


def pieces(text: str) -> list[str]:
    return _PIECE.findall(text)


class StubServer:
    def __init__(self, script: Callable[[str], str], *, delay_s: float = 0.0, model: str = "stub-model"):
        self.script = script
        self.delay_s = delay_s  # between events, to test Stop
        self.model = model
        self.requests: list[dict] = []
        self.disconnects = 0
        self.events_sent = 0
        self._srv = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._srv.daemon_threads = True
        self._thread = threading.Thread(target=self._srv.serve_forever, name="openai-stub", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._srv.server_address[1]}"

    def __enter__(self) -> "StubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._srv.shutdown()
        self._srv.server_close()

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            _json = send_json

            def do_GET(self):  # noqa: N802
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": stub.model, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    req = json.loads(self.rfile.read(n) or b"{}")
                except json.JSONDecodeError:
                    self._json(400, {"error": {"message": "body is not JSON"}})
                    return
                if self.path == "/tokenize":
                    self._json(200, {"tokens": list(range(len(pieces(req.get("content", "")))))})
                    return
                if self.path != "/v1/completions":
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if req.get("model") not in ("", None, stub.model):
                    self._json(404, {"error": {"message": f"model {req.get('model')!r} not found"}})
                    return
                stub.requests.append(req)
                prompt = req.get("prompt", "")
                full = stub.script(prompt)
                stops = req.get("stop") or []
                cut = min((full.find(s) for s in stops if s in full), default=-1)
                out = pieces(full[:cut] if cut >= 0 else full)
                max_tokens = int(req.get("max_tokens") or 16)
                sent = out[:max_tokens]
                finish = "length" if len(out) > max_tokens else "stop"
                usage = {"prompt_tokens": len(pieces(prompt)), "completion_tokens": len(sent), "total_tokens": 0}
                if not req.get("stream"):
                    self._json(200, {"choices": [{"text": "".join(sent), "finish_reason": finish}], "usage": usage})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for i, p in enumerate(sent):
                        last = i == len(sent) - 1
                        chunk = {"choices": [{"index": 0, "text": p, "finish_reason": finish if last else None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        stub.events_sent += 1
                        if stub.delay_s:
                            time.sleep(stub.delay_s)
                    if not sent:
                        chunk = {"choices": [{"index": 0, "text": "", "finish_reason": finish}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    if (req.get("stream_options") or {}).get("include_usage"):
                        self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    stub.disconnects += 1
                self.close_connection = True

        return Handler


def continue_thought(prompt: str, thought: str) -> str | None:
    """The rest of a scripted `thought` when `prompt` is a reasoning turn's thinking so far (the chat
    continues the thinking from its own prefix, e.g. after its calculator wrote a result), like a
    model would; None when the prompt is not inside an open think block."""
    if "<think>" not in prompt or "</think>" in prompt.rsplit("<think>", 1)[-1]:
        return None
    done = prompt.rsplit("<think>", 1)[-1].lstrip("\n")
    return thought[len(done):] if thought.startswith(done) else thought
