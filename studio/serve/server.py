"""`studio serve`: an OpenAI-compatible HTTP server over the registered models.

    srv = StudioServer(studio, port=8000)          # 127.0.0.1 by default; any other address needs api_key
    srv.start()                                    # a daemon thread; srv.serve_forever() blocks instead
    srv.url                                        # http://127.0.0.1:8000
    srv.close()

Routes: GET /v1/models; POST /v1/chat/completions (streaming and not, tools/tool_choice,
reasoning_effort / thinking.budget_tokens); POST /v1/completions and POST /tokenize, which the
studio's own remote backend (engines/inference/remote.py) speaks, so `studio chat --model
http://127.0.0.1:8000#NAME` chats through this server.

Threads: one thread per connection (ThreadingHTTPServer), but every request that touches a
model takes `self.turns` and goes through the one model host (ChatService slot "serve"), so
requests queue in the order they get the lock and a `Llama` is only ever used by one. A client
that disconnects mid-stream stops its generation within one token.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from studio.errors import NotFound, StudioError, UserError
from studio.serve.api import (
    MAX_TOOL_ARG_TOKENS,
    ApiError,
    ChatRequest,
    choice_prompt,
    chunk,
    completion,
    finish_reason,
    new_id,
    parse_chat_request,
    tool_call,
    usage,
)

SLOT = "serve"
MAX_BODY = 8 << 20


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StudioServer:
    def __init__(self, studio, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
                 prompt_lookup: bool = False):
        from studio.chat import ChatService

        if not is_loopback(host) and not api_key:
            raise UserError(f"Serving on {host} would open the models to the network without a key",
                            hint="pass --api-key KEY (clients send it as a Bearer token), or keep the default 127.0.0.1")
        self.studio = studio
        self.api_key = api_key
        self.prompt_lookup = prompt_lookup
        self.chat = ChatService(studio)
        self.turns = threading.Lock()  # the one model host: one request at a time
        try:
            self._srv = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as e:
            raise UserError(f"Cannot listen on {host}:{port}: {e.strerror or e}", hint="pick another --port") from None
        self._srv.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._srv.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "StudioServer":
        self._thread = threading.Thread(target=self._srv.serve_forever, name="studio-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._srv.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self._srv.shutdown()
        self._srv.server_close()
        self.chat.close()

    # ---- what the routes do ---------------------------------------------------------------
    def models(self) -> list[dict]:
        choices = self.chat.model_choices()
        out = [{"id": m["name"], "object": "model", "created": 0, "owned_by": "model-studio", "kind": m["kind"]}
               for m in choices["models"]]
        out += [{"id": a["name"], "object": "model", "created": 0, "owned_by": "model-studio", "kind": "gguf-lora",
                 "base": a.get("base")} for a in choices["adapters"]]
        return out

    def resolve(self, name: str):
        if name not in {m["id"] for m in self.models()}:
            raise ApiError(404, f"The model {name!r} does not exist", code="model_not_found", param="model")
        try:
            return self.chat.resolve(name)
        except StudioError as e:
            raise ApiError(400, str(e), param="model") from None

    def backend(self, resolved):
        from dataclasses import replace

        resolved.spec = replace(resolved.spec, prompt_lookup=self.prompt_lookup)
        b = self.chat.backend(resolved, SLOT)
        b.load()
        return b

    def pick_tool(self, req: ChatRequest) -> tuple[str, dict] | None:
        """The function the model calls, with arguments sampled under its schema's grammar;
        None when it answers in words. Holds `turns`."""
        from engines.inference.turn import TurnRequest, render_prompt
        from engines.tools.function_call import constrained_arguments

        if not req.tools or req.tool_choice == "none" or (req.answered_tool and not req.forced_tool):
            return None
        resolved = self.resolve(req.model)
        backend = self.backend(resolved)
        query = req.history[-1]["content"]
        name = req.forced_tool
        if name is None:
            options = [t["name"] for t in req.tools] + ([] if req.tool_choice == "required" else ["none"])
            schema = {"type": "object", "properties": {"tool": {"enum": options}}, "required": ["tool"]}
            prompt = render_prompt(TurnRequest(messages=[{"role": "user", "content": choice_prompt(req.tools, query)}],
                                               template=resolved.template, stop=resolved.stop))
            name = json.loads(backend.complete_json(prompt, schema, 24))["tool"]
            if name == "none":
                return None
        tool = next(t for t in req.tools if t["name"] == name)
        try:
            args = constrained_arguments(lambda p, s, n: backend.complete_json(p, s, n), name, tool["description"],
                                         tool["parameters"], query, MAX_TOOL_ARG_TOKENS)
        except ValueError as e:
            raise ApiError(500, f"The model's call to {name} did not parse: {e}", kind="server_error") from None
        return name, args


def send_json(handler: BaseHTTPRequestHandler, code: int, obj: dict) -> None:
    """Answer `obj` as a JSON body with status `code` (the tests' stub OpenAI server uses it too)."""
    body = json.dumps(obj).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _handler(server: StudioServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "model-studio"

        def log_message(self, *a):  # quiet; the CLI prints one line per request instead
            pass

        # ---- plumbing ---------------------------------------------------------------------
        _json = send_json

        def _authorised(self) -> bool:
            if not server.api_key:
                return True
            got = self.headers.get("Authorization", "")
            return hmac.compare_digest(got.encode(), f"Bearer {server.api_key}".encode())

        def _body(self) -> dict:
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                raise ApiError(413, f"the request body is over {MAX_BODY >> 20} MB")
            try:
                return json.loads(self.rfile.read(n) or b"{}")
            except json.JSONDecodeError as e:
                raise ApiError(400, f"the body is not JSON: {e.msg} at column {e.colno}") from None

        def _route(self, fn) -> None:
            try:
                if not self._authorised():
                    raise ApiError(401, "Missing or wrong API key (send Authorization: Bearer KEY)",
                                   code="invalid_api_key", kind="authentication_error")
                fn()
            except ApiError as e:
                self._json(e.status, e.body())
            except StudioError as e:
                self._json(*_studio_error(e))
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        # ---- routes ------------------------------------------------------------------------
        def do_GET(self):  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            if path == "/v1/models":
                self._route(lambda: self._json(200, {"object": "list", "data": server.models()}))
            elif path in ("/health", ""):
                self._json(200, {"status": "ok"})
            else:
                self._json(404, ApiError(404, f"no route GET {self.path}").body())

        def do_POST(self):  # noqa: N802
            path = self.path.split("?")[0].rstrip("/")
            routes = {"/v1/chat/completions": self._chat, "/v1/completions": self._completions, "/tokenize": self._tokenize}
            if path in routes:
                self._route(routes[path])
            else:
                self._json(404, ApiError(404, f"no route POST {self.path}").body())

        def _chat(self) -> None:
            req = parse_chat_request(self._body(), prompt_lookup=server.prompt_lookup)
            server.resolve(req.model)
            cid = new_id()
            with server.turns:
                picked = server.pick_tool(req)
                if picked is not None:
                    call = tool_call(*picked)
                    if req.stream:
                        self._sse_start()
                        delta = {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]}
                        self._sse(chunk(cid, req.model, delta))
                        self._sse(chunk(cid, req.model, {}, "tool_calls"))
                        self._sse_end(cid, req, None)
                    else:
                        msg = {"role": "assistant", "content": None, "tool_calls": [call]}
                        self._json(200, completion(cid, req.model, msg, "tool_calls", usage(0, 0, 0)))
                    return
                self._turn(req, cid)

        def _turn(self, req: ChatRequest, cid: str) -> None:
            state = {"started": False, "gone": False}

            def on_event(ev: dict) -> None:
                kind = ev.get("type")
                if not req.stream or kind not in ("thinking", "answer") or state["gone"]:
                    return
                try:
                    if not state["started"]:  # headers go out with the first token: errors before it get a status
                        self._sse_start()
                        self._sse(chunk(cid, req.model, {"role": "assistant", "content": ""}))
                        state["started"] = True
                    key = "reasoning_content" if kind == "thinking" else "content"
                    self._sse(chunk(cid, req.model, {key: ev["text"]}))
                except (BrokenPipeError, ConnectionResetError):
                    state["gone"] = True

            try:
                out = server.chat.run_turn_for(
                    {"settings": req.settings}, req.history, mode=req.mode, model=req.model, slot=SLOT,
                    on_event=on_event, should_stop=lambda: state["gone"], on_overflow="error",
                    overrides={"prompt_lookup": req.settings["prompt_lookup"]},
                )
            except StudioError as e:
                if not state["started"]:
                    raise
                self._sse({"error": _studio_error(e)[1]["error"]})
                self.wfile.write(b"data: [DONE]\n\n")
                return
            s = out["stats"]
            use = usage(s["prompt_tokens"], s["visible_tokens"], s["hidden_tokens"], out["meta"].get("cached_tokens") or 0)
            finish = finish_reason(out["meta"]["finish_reason"])
            if not req.stream:
                msg = {"role": "assistant", "content": out["answer"]}
                if out["thinking"]:
                    msg["reasoning_content"] = out["thinking"]
                self._json(200, completion(cid, req.model, msg, finish, use))
                return
            if state["gone"]:
                return
            if not state["started"]:
                self._sse_start()
                self._sse(chunk(cid, req.model, {"role": "assistant", "content": ""}))
            self._sse(chunk(cid, req.model, {}, finish))
            self._sse_end(cid, req, use)

        def _completions(self) -> None:
            """A raw prompt (the studio's remote backend renders the chat template itself)."""
            from engines.inference.backend import CompletionParams, Done, Sampling

            body = self._body()
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                raise ApiError(400, "prompt must be a string", param="prompt")
            name = body.get("model") or ""
            max_tokens = int(body.get("max_tokens") or 16)
            try:
                sampling = Sampling.from_dict({k: body[k] for k in ("temperature", "top_p", "seed") if body.get(k) is not None})
            except (TypeError, ValueError) as e:
                raise ApiError(400, str(e)) from None
            stops = body.get("stop") or []
            params = CompletionParams(max_tokens, tuple([stops] if isinstance(stops, str) else stops), sampling)
            cid = new_id("cmpl")
            with server.turns:
                backend = server.backend(server.resolve(name))
                n_ctx = int(backend.load().get("n_ctx") or backend.spec.n_ctx)
                used = backend.count_tokens(prompt) + 1
                if used + max_tokens > n_ctx:
                    raise ApiError(400, f"The prompt is {used} tokens; with max_tokens {max_tokens} that is more than the "
                                        f"model's context of {n_ctx} tokens", code="context_length_exceeded", param="messages")
                stream = bool(body.get("stream"))
                if stream:
                    self._sse_start()
                text, done = [], None
                for ev in backend.complete(prompt, params):
                    if isinstance(ev, Done):
                        done = ev
                        break
                    if stream:
                        self._sse({"id": cid, "object": "text_completion", "model": name,
                                   "choices": [{"index": 0, "text": ev.text, "finish_reason": None}]})
                    else:
                        text.append(ev.text)
            use = {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
                   "total_tokens": done.prompt_tokens + done.completion_tokens,
                   "prompt_tokens_details": {"cached_tokens": done.cached_tokens}}
            finish = finish_reason(done.finish_reason)
            if not stream:
                self._json(200, {"id": cid, "object": "text_completion", "model": name, "usage": use,
                                 "choices": [{"index": 0, "text": "".join(text), "finish_reason": finish}]})
                return
            self._sse({"id": cid, "object": "text_completion", "model": name,
                       "choices": [{"index": 0, "text": "", "finish_reason": finish}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                self._sse({"id": cid, "object": "text_completion", "model": name, "choices": [], "usage": use})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def _tokenize(self) -> None:
            body = self._body()
            text = body.get("content", body.get("prompt", ""))
            with server.turns:
                n = server.backend(server.resolve(body.get("model") or "")).count_tokens(str(text))
            self._json(200, {"count": n})

        # ---- server-sent events ------------------------------------------------------------
        def _sse_start(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()

        def _sse(self, obj: dict) -> None:
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()

        def _sse_end(self, cid: str, req: ChatRequest, use: dict | None) -> None:
            if req.include_usage:
                self._sse(chunk(cid, req.model, None, use=use or usage(0, 0, 0)))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


def _studio_error(e: StudioError) -> tuple[int, dict]:
    from studio.chat.service import ContextTooLong

    if isinstance(e, ContextTooLong):
        return 400, ApiError(400, e.message, code="context_length_exceeded", param="messages").body()
    status = 404 if isinstance(e, NotFound) else 400 if isinstance(e, UserError) else 500
    msg = e.message + (f" ({e.hint})" if e.hint else "")
    return status, ApiError(status, msg, kind="invalid_request_error" if status < 500 else "server_error").body()
