"""The chat service: conversations and messages in SQLite, one turn at a time through a backend.

    chat = ChatService(studio)
    conv = chat.create_conversation(mode="auto")
    msg = chat.send(conv["id"], "What is 17 * 23?", on_event=print)
    msg["meta"]["stats"]            # the accounting of that turn
    chat.close()                    # ends the model-host processes

Threads: `send`, `regenerate`, `edit_and_resend` and `run_pane` block until the turn is done;
the window calls them from a worker thread and gets tokens through `on_event` (called on that
worker thread: adapt it to a Qt signal, never touch widgets in it). Each "slot" ("chat",
"compare-a", "compare-b") has its own model host, so the two compare panes stream at once.
Stop is `should_stop`, a callable checked before every token.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text

from engines.inference.accounting import Prices, add_totals
from engines.inference.backend import BackendError, CompletionParams, Piece, Sampling
from engines.inference.host import LocalBackend, ModelSpec
from engines.inference.router import RouteDecision, RouterClassifier, route_query
from engines.inference.turn import FAST_THINK_PREFILL, ThinkingBudget, TurnRequest, render_prompt, run_turn
from engines.templates import default_template_for, get_template
from studio import llama_choice
from studio.db import Conversation, Message, Model, Setting
from studio.db.models import utcnow
from studio.errors import NotFound, StudioError, UserError

MODES = ("fast", "reasoning", "auto")
PRICES_KEY = "chat.prices"
ROUTER_KEY = "chat.router_classifier"
CONCURRENT_SLOTS = ("compare-a", "compare-b")  # the Compare view's panes: two model hosts that run at once

# Defaults of a conversation's settings; a conversation stores only what the user changed.
DEFAULTS: dict[str, Any] = {
    "system_prompt": "",
    "temperature": 0.7,
    "top_p": 0.95,
    "max_tokens_fast": 256,  # System 1: short and quick
    "max_tokens_reasoning": 512,
    "think_budget": 512,  # hidden tokens before budget forcing closes the thinking
    "think_min": 0,  # > 0: an early end of thinking becomes "Wait," (s1)
    "think_calculator": True,  # reasoning: the calculator writes each "a op b =" result in the thinking
    "models": {},  # {"fast": {"model": name, "adapter": name|None}, "reasoning": {...}}
    "tools": [],
    "use_router_classifier": True,
    "prompt_lookup": False,  # n-gram speculative decoding: off by default, see bench/speculative.py and bench/RESULTS.md
}
KNOWN_STOPS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>", "</s>", "<|endoftext|>")


@dataclass
class ResolvedModel:
    """What a mode will run on, as plain data."""

    label: str
    template: str
    stop: tuple[str, ...]
    template_name: str
    spec: ModelSpec | None = None  # local llama.cpp
    remote: dict | None = None  # {"base_url", "model", "api_key"}
    is_base: bool = False  # a base model without instruction tuning: semi-finished
    native_thinking: bool = False
    note: str = ""
    names: dict = field(default_factory=dict)  # {"model": ..., "adapter": ...}


def _is_url(name: str | None) -> bool:
    return bool(name) and str(name).startswith(("http://", "https://"))


def message_to_dict(m: Message) -> dict:
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "position": m.position,
        "role": m.role,
        "content": m.content,
        "thinking": m.thinking,
        "meta": m.meta or {},
        "created_at": m.created_at.isoformat() if m.created_at else None,
    }


def conversation_to_dict(c: Conversation, n_messages: int | None = None) -> dict:
    return {
        "id": c.id,
        "title": c.title,
        "mode": c.mode,
        "settings": c.settings or {},
        "created_at": c.created_at.isoformat() if c.created_at else None,
        "updated_at": c.updated_at.isoformat() if c.updated_at else None,
        "n_messages": n_messages,
    }


class ChatService:
    def __init__(self, studio):
        self.studio = studio
        self.db = studio.db
        self._backends: dict[str, Any] = {}
        self._lock = threading.Lock()
        # asked before a tool that is not read-only runs: (name, args, description) -> allowed.
        # Called on the turn's thread; the window blocks it on a dialog, `studio chat --yes` allows all.
        self.confirm_tool: Callable[[str, dict, str], bool] | None = None

    # ---- conversations -------------------------------------------------------------------
    def create_conversation(self, title: str = "New chat", mode: str = "fast", settings: dict | None = None) -> dict:
        self._check_mode(mode)
        with self.db.session() as s:
            c = Conversation(title=title.strip() or "New chat", mode=mode, settings=dict(settings or {}))
            s.add(c)
            s.flush()
            return conversation_to_dict(c, 0)

    def list_conversations(self, limit: int = 500) -> list[dict]:
        with self.db.session() as s:
            counts = dict(
                s.execute(select(Message.conversation_id, func.count()).group_by(Message.conversation_id)).all()
            )
            rows = s.scalars(select(Conversation).order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit))
            return [conversation_to_dict(c, counts.get(c.id, 0)) for c in rows]

    def get_conversation(self, conv_id: int) -> dict:
        with self.db.session() as s:
            c = self._conv(s, conv_id)
            d = conversation_to_dict(c, len(c.messages))
            d["messages"] = [message_to_dict(m) for m in c.messages]
            return d

    def rename(self, conv_id: int, title: str) -> dict:
        title = (title or "").strip()
        if not title:
            raise UserError("A conversation title cannot be empty", hint="type a title")
        with self.db.session() as s:
            c = self._conv(s, conv_id)
            c.title = title[:300]
            return conversation_to_dict(c)

    def delete_conversation(self, conv_id: int) -> None:
        with self.db.session() as s:
            s.delete(self._conv(s, conv_id))

    def set_mode(self, conv_id: int, mode: str) -> None:
        self._check_mode(mode)
        with self.db.session() as s:
            self._conv(s, conv_id).mode = mode

    def update_settings(self, conv_id: int, **changes) -> dict:
        """Merge changes into a conversation's settings (None removes a key: back to the default)."""
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise UserError(f"Unknown chat setting(s): {', '.join(sorted(unknown))}", hint=f"one of {', '.join(DEFAULTS)}")
        with self.db.session() as s:
            c = self._conv(s, conv_id)
            st = dict(c.settings or {})
            for k, v in changes.items():
                if v is None:
                    st.pop(k, None)
                else:
                    st[k] = v
            c.settings = st
            return st

    def effective_settings(self, conv: dict | None) -> dict:
        st = dict(DEFAULTS)
        st.update((conv or {}).get("settings") or {})
        return st

    def search(self, query: str, limit: int = 50) -> list[dict]:
        """Conversations whose title or messages match; with a snippet of the first hit."""
        words = [w for w in "".join(ch if ch.isalnum() else " " for ch in query).split() if w]
        if not words:
            return self.list_conversations(limit)
        match = " ".join(f'"{w}"*' for w in words)
        with self.db.session() as s:
            hits = s.execute(
                text(
                    "SELECT m.conversation_id, snippet(messages_fts, 0, '[', ']', '…', 8) "
                    "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                    "WHERE messages_fts MATCH :q ORDER BY rank LIMIT 500"
                ),
                {"q": match},
            ).all()
            snippets: dict[int, str] = {}
            for cid, snip in hits:
                snippets.setdefault(cid, snip)
            title_q = select(Conversation.id).where(
                *[Conversation.title.ilike(f"%{w}%") for w in words]
            )
            ids = set(snippets) | set(s.scalars(title_q))
            if not ids:
                return []
            rows = s.scalars(
                select(Conversation).where(Conversation.id.in_(ids)).order_by(Conversation.updated_at.desc()).limit(limit)
            )
            out = []
            for c in rows:
                d = conversation_to_dict(c)
                d["snippet"] = snippets.get(c.id, "")
                out.append(d)
            return out

    def totals(self, conv_id: int) -> dict:
        with self.db.session() as s:
            metas = s.scalars(
                select(Message.meta).where(Message.conversation_id == conv_id, Message.role == "assistant")
            ).all()
        return add_totals([(m or {}).get("stats") or {} for m in metas])

    # ---- prices and the router ---------------------------------------------------------
    def prices(self) -> Prices:
        with self.db.session() as s:
            row = s.get(Setting, PRICES_KEY)
            return Prices.from_dict(row.value if row else None)

    def set_prices(self, **per_1k: float) -> Prices:
        try:
            p = Prices.from_dict({**self.prices().__dict__, **per_1k})
        except (TypeError, ValueError) as e:
            raise UserError(f"Bad price: {e}", hint="prices are numbers >= 0 per 1,000 tokens") from e
        with self.db.session() as s:
            s.merge(Setting(key=PRICES_KEY, value=dict(p.__dict__)))
        return p

    def router_classifier(self) -> RouterClassifier | None:
        with self.db.session() as s:
            row = s.get(Setting, ROUTER_KEY)
            return RouterClassifier.from_dict(row.value) if row and row.value else None

    def train_router(self, examples: list[dict]) -> dict:
        from engines.inference.router import evaluate_router, train_classifier

        try:
            clf = train_classifier(examples)
        except ValueError as e:
            raise UserError(f"Cannot train the router: {e}") from e
        with self.db.session() as s:
            s.merge(Setting(key=ROUTER_KEY, value=clf.to_dict()))
        return {"examples": clf.n_examples, "features": len(clf.coef), "train": evaluate_router(examples, clf)}

    def forget_router(self) -> None:
        with self.db.session() as s:
            row = s.get(Setting, ROUTER_KEY)
            if row is not None:
                s.delete(row)

    def route(self, query: str, use_classifier: bool = True, tools=()) -> RouteDecision:
        return route_query(query, self.router_classifier() if use_classifier else None, tools=tools)

    # ---- models ---------------------------------------------------------------------------
    def model_choices(self) -> dict:
        """What the picker offers: chat models (base GGUFs, merged exports) and GGUF LoRA adapters."""
        models, adapters = [], []
        for m in self.studio.registry.list():
            if m.format == "gguf-lora":
                adapters.append({"name": m.name, "base": (m.meta or {}).get("base_gguf") or (m.parent.name if m.parent else None)})
            elif m.format == "gguf":
                models.append({"name": m.name, "kind": m.kind, "is_base": m.kind == "base" and not m.is_instruct})
        return {"models": models, "adapters": adapters}

    def resolve(self, model: str | None = None, adapter: str | None = None, *, template: str | None = None) -> ResolvedModel:
        """A registry model (plus an optional GGUF LoRA adapter), or a remote server's URL."""
        if _is_url(model):
            url, _, remote_model = str(model).partition("#")
            tname = template or "chatml"
            tpl = get_template(tname)
            return ResolvedModel(
                label=f"{remote_model or 'remote'} @ {url}", template=tpl.inference, stop=tpl.stop, template_name=tname,
                remote={"base_url": url, "model": remote_model}, names={"model": model, "adapter": None},
            )
        reg = self.studio.registry
        if model:
            m = reg.get(model)
        else:
            m = self._default_model()
        lora: Model | None = None
        base = m
        if m.format == "gguf-lora":  # the adapter was picked as "the model": find its base
            lora, base = m, self._adapter_base(m)
        elif adapter:
            lora = reg.get(adapter)
        if lora is not None and lora.format != "gguf-lora":
            raise UserError(
                f"{lora.name!r} is a {lora.format} adapter, which llama.cpp cannot load",
                hint="export it to a GGUF LoRA adapter in the Models page first",
            )
        if base.format != "gguf":
            raise UserError(
                f"{base.name!r} is a {base.format} model; the chat runs GGUF files with llama.cpp",
                hint="export it to GGUF in the Models page, or pick a GGUF model",
            )
        # the template: the adapter's own (it was trained with it), else the model's, else the default
        src = lora if lora is not None and (lora.chat_template or (lora.meta or {}).get("template_name")) else base
        meta = src.meta or {}
        tname = template or meta.get("template_name")
        if template is None and src.chat_template:
            tpl_text, tname = src.chat_template, tname or "model"
            named = get_template(tname) if tname in ("gemma", "chatml", "llama3") else None
            stop = named.stop if named else tuple(s for s in KNOWN_STOPS if s in tpl_text)
        else:
            tname = tname if tname in ("gemma", "chatml", "llama3") else default_template_for(base.architecture)
            named = get_template(tname)
            tpl_text, stop = named.inference, named.stop
        is_base = lora is None and base.kind == "base" and not base.is_instruct
        label = base.name + (f" + {lora.name}" if lora is not None else "")
        return ResolvedModel(
            label=label,
            template=tpl_text,
            stop=stop,
            template_name=tname,
            spec=ModelSpec(model_path=base.path, lora_path=lora.path if lora is not None else None),
            is_base=is_base,
            native_thinking="<think>" in tpl_text or bool(meta.get("thinking")),
            note=(base.meta or {}).get("note", "") if is_base else "",
            names={"model": base.name, "adapter": lora.name if lora is not None else None},
        )

    def default_pick(self) -> dict:
        """{"model", "adapter"}: what a conversation with no model choice runs on (the starter
        assistant over its base when installed), for the pickers to show. Reads the registry only."""
        try:
            return dict(self.resolve().names)
        except StudioError:
            return {"model": None, "adapter": None}

    def _default_model(self) -> Model:
        """The starter assistant when it is installed, else the packaged base model."""
        from studio.models.registry import DEFAULT_MODEL_NAME
        from studio.starter.install import STARTER_NAME

        for name in (STARTER_NAME, DEFAULT_MODEL_NAME):
            try:
                return self.studio.registry.get(name)
            except NotFound:
                continue
        chat_models = [m for m in self.studio.registry.list() if m.format == "gguf"]
        if not chat_models:
            raise UserError("There is no GGUF model to chat with", hint="import one with `studio models import FILE.gguf`")
        return chat_models[0]

    def _adapter_base(self, lora: Model) -> Model:
        ref = (lora.meta or {}).get("base_gguf")
        if ref and Path(str(ref)).is_file():
            for m in self.studio.registry.list():
                if m.format == "gguf" and Path(m.path) == Path(str(ref)):
                    return m
            return Model(name=Path(str(ref)).name, kind="base", format="gguf", path=str(ref), meta={})
        if ref:
            try:
                return self.studio.registry.get(str(ref))
            except NotFound:
                pass
        if lora.parent is not None and lora.parent.format == "gguf":
            return lora.parent
        raise UserError(
            f"The adapter {lora.name!r} does not say which GGUF base model it belongs to",
            hint="pick its base model in the model picker and this adapter as the adapter",
        )

    def model_for_mode(self, conv: dict | None, mode: str) -> ResolvedModel:
        st = self.effective_settings(conv)
        pick = (st.get("models") or {}).get(mode) or (st.get("models") or {}).get("default") or {}
        return self.resolve(pick.get("model"), pick.get("adapter"), template=pick.get("template"))

    # ---- backends -------------------------------------------------------------------------
    def backend(self, resolved: ResolvedModel, slot: str = "chat"):
        if resolved.remote is not None:
            from engines.inference.remote import OpenAIBackend

            try:
                return OpenAIBackend(resolved.remote["base_url"], resolved.remote.get("model", ""), resolved.remote.get("api_key"))
            except BackendError as e:
                raise StudioError(e.message, e.hint) from e
        with self._lock:
            b = self._backends.get(slot)
            if b is None:
                b = self._backends[slot] = self._new_local_backend()
        spec = resolved.spec
        if slot in CONCURRENT_SLOTS and spec is not None and spec.n_threads is None:
            # two hosts at once with a thread per core each oversubscribe the CPU, and llama.cpp's
            # threads wait on each other at every op: the Compare panes share the cores instead
            spec = replace(spec, n_threads=max(1, (os.cpu_count() or 2) // len(CONCURRENT_SLOTS)))
        b.spec = spec
        return b

    def _new_local_backend(self) -> LocalBackend:
        """A model host with this machine's extra-buffer-types choice; a crash it survives by
        turning them off is remembered for the next hosts (`studio.llama_choice`)."""
        choice = llama_choice.current(self.db)
        return LocalBackend(
            extra_bufts=choice.extra_bufts,
            fallback=not choice.forced,
            on_fallback=lambda info: llama_choice.remember_fallback(self.db, info),
        )

    def complete_text(
        self, messages: list[dict], *, model: str | None = None, slot: str = "chat", max_tokens: int = 96,
        sampling: Sampling | None = None,
    ) -> str:
        """One plain completion of `messages` in the model's own template, through the slot's model
        host: no routing, tools or storage. Blocks: call it from a worker thread."""
        resolved = self.resolve(model)
        try:
            return _complete(self.backend(resolved, slot), resolved, messages, max_tokens, sampling or Sampling())
        except BackendError as e:
            raise StudioError(e.message, e.hint) from e

    def close(self) -> None:
        with self._lock:
            backends, self._backends = list(self._backends.values()), {}
        for b in backends:
            b.close()

    # ---- turns ----------------------------------------------------------------------------
    def send(
        self,
        conv_id: int,
        text: str,
        *,
        mode: str | None = None,
        on_event: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict:
        """Add the user's message, answer it, store the answer; returns the assistant message."""
        if not (text or "").strip():
            raise UserError("The message is empty", hint="type a message")
        with self.db.session() as s:
            c = self._conv(s, conv_id)
            pos = (s.scalar(select(func.max(Message.position)).where(Message.conversation_id == c.id)) or 0) + 1
            if c.messages and c.messages[-1].role == "user":
                # an unanswered message (the last turn failed): this one replaces it
                s.delete(c.messages[-1])
                pos -= 1
            s.add(Message(conversation_id=c.id, position=pos, role="user", content=text.strip()))
            if c.title == "New chat":
                c.title = _title_from(text)
            c.updated_at = utcnow()
        return self._respond(conv_id, mode, on_event, should_stop)

    def regenerate(self, conv_id: int, *, mode: str | None = None, on_event=None, should_stop=None) -> dict:
        """Answer the last user message again (the previous answer is replaced)."""
        with self.db.session() as s:
            c = self._conv(s, conv_id)
            if not c.messages:
                raise UserError("There is nothing to regenerate yet", hint="send a message first")
            if c.messages[-1].role == "assistant":
                s.delete(c.messages[-1])
        return self._respond(conv_id, mode, on_event, should_stop)

    def edit_and_resend(self, message_id: int, text: str, *, mode: str | None = None, on_event=None, should_stop=None) -> dict:
        """Replace a user message's text, drop everything after it, and answer again."""
        if not (text or "").strip():
            raise UserError("The message is empty", hint="type a message")
        with self.db.session() as s:
            m = s.get(Message, message_id)
            if m is None:
                raise NotFound(f"No message with id {message_id}")
            if m.role != "user":
                raise UserError("Only your own messages can be edited", hint="use Regenerate for an answer")
            m.content = text.strip()
            s.execute(delete(Message).where(Message.conversation_id == m.conversation_id, Message.position > m.position))
            conv_id = m.conversation_id
        return self._respond(conv_id, mode, on_event, should_stop)

    def _respond(self, conv_id: int, mode: str | None, on_event, should_stop) -> dict:
        conv = self.get_conversation(conv_id)
        history = [{"role": m["role"], "content": m["content"]} for m in conv["messages"] if m["role"] in ("user", "assistant")]
        query = history[-1]["content"]
        result = self.run_turn_for(conv, history, mode=mode or conv["mode"], on_event=on_event, should_stop=should_stop, slot="chat")
        meta = result["meta"]
        with self.db.session() as s:
            c = self._conv(s, conv_id)
            pos = (s.scalar(select(func.max(Message.position)).where(Message.conversation_id == c.id)) or 0) + 1
            msg = Message(
                conversation_id=c.id, position=pos, role="assistant",
                content=result["answer"], thinking=result["thinking"], meta=meta,
            )
            s.add(msg)
            c.updated_at = utcnow()
            s.flush()
            out = message_to_dict(msg)
        out["query"] = query
        return out

    def run_turn_for(
        self,
        conv: dict | None,
        history: list[dict],
        *,
        mode: str,
        on_event=None,
        should_stop=None,
        slot: str = "chat",
        model: str | None = None,
        adapter: str | None = None,
        overrides: dict | None = None,
        on_overflow: str = "drop",
    ) -> dict:
        """Route, resolve the model, run tools if enabled, and run one turn. Nothing is stored.

        A conversation longer than the model's context loses its oldest turns for this turn, and
        a "context" event (and meta["context"]) says which; on_overflow="error" refuses instead
        (ContextTooLong), which is what the OpenAI-compatible server answers with a 400."""
        self._check_mode(mode)
        st = self.effective_settings(conv)
        st.update(overrides or {})
        emit = on_event or (lambda _e: None)
        query = history[-1]["content"]
        route = None
        run_mode = mode
        if mode == "auto":
            route = self.route(query, use_classifier=bool(st.get("use_router_classifier", True)), tools=st.get("tools") or ())
            run_mode = route.mode
            emit({"type": "route", "mode": route.mode, "reason": route.reason, "source": route.source})
        if model or adapter:
            resolved = self.resolve(model, adapter)
        else:
            resolved = self.model_for_mode(conv, run_mode)
        if resolved.spec is not None and bool(st.get("prompt_lookup")) != resolved.spec.prompt_lookup:
            resolved.spec = replace(resolved.spec, prompt_lookup=bool(st.get("prompt_lookup")))
        emit({"type": "model", "label": resolved.label, "is_base": resolved.is_base})
        messages = list(history)
        if st.get("system_prompt"):
            messages = [{"role": "system", "content": st["system_prompt"]}] + messages
        backend = self.backend(resolved, slot)
        load = None
        if isinstance(backend, LocalBackend):  # a first load is not the turn's latency: report it apart
            emit({"type": "status", "text": "loading model"})
            try:
                load = backend.load()
            except BackendError as e:
                raise StudioError(e.message, e.hint) from e
        tool_calls = self._maybe_tools(st.get("tools") or [], query, messages, resolved, backend, emit)
        if tool_calls is not None:
            calls, context = tool_calls
            messages[-1] = {"role": "user", "content": f"{context.strip()}\n\n{query}"}
        else:
            calls = None
        try:
            req = TurnRequest(
                messages=messages,
                template=resolved.template,
                stop=resolved.stop,
                mode=run_mode,
                max_tokens=int(st["max_tokens_fast"] if run_mode == "fast" else st["max_tokens_reasoning"]),
                budget=ThinkingBudget(int(st["think_budget"]), min(int(st["think_min"]), int(st["think_budget"]))),
                sampling=Sampling.from_dict({"temperature": float(st["temperature"]), "top_p": float(st["top_p"]), **{k: st[k] for k in ("seed", "top_k", "repeat_penalty") if k in st}}),
                prices=self.prices(),
                native_thinking=resolved.native_thinking,
                think_calculator=bool(st.get("think_calculator", True)),
            )
        except ValueError as e:
            raise UserError(f"Bad chat settings: {e}", hint="fix them in the settings panel") from e
        fit = self._fit_context(backend, req, load, on_overflow)
        emit({"type": "context", **fit.to_dict()})
        try:
            res = run_turn(backend, req, emit, should_stop)
        except BackendError as e:
            raise StudioError(e.message, e.hint) from e
        meta = {
            "stats": res.stats,
            "mode": res.mode,
            "requested_mode": mode,
            "route": route.to_dict() if route else None,
            "model": resolved.names.get("model"),
            "adapter": resolved.names.get("adapter"),
            "model_label": resolved.label,
            "template": resolved.template_name,
            "finish_reason": res.finish_reason,
            "stopped": res.finish_reason == "cancelled",
            "budget_forced": res.budget_forced,
            "waits": res.waits,
            "cached_tokens": res.cached_tokens,
            "load": load,
            "context": {**fit.to_dict(), "used_after": fit.prompt_tokens + res.stats.get("visible_tokens", 0)
                        + res.stats.get("hidden_tokens", 0)},
        }
        if calls is not None:
            meta["tool_calls"] = calls
        return {
            "answer": res.answer,
            "thinking": res.thinking,
            "mode": res.mode,
            "route_reason": route.reason if route else None,
            "stats": res.stats,
            "meta": meta,
        }

    @staticmethod
    def _fit_context(backend, req: TurnRequest, load: dict | None, on_overflow: str):
        """Count the turn against the model's context (a remote server's is not known: count only)."""
        from engines.inference.context import ContextOverflow, fit_context

        limit = None
        if isinstance(backend, LocalBackend):
            limit = int((load or {}).get("n_ctx") or backend.spec.n_ctx)
        try:
            return fit_context(req, backend.count_tokens, limit, on_overflow)
        except ContextOverflow as e:
            raise ContextTooLong(e) from None
        except BackendError as e:
            raise StudioError(e.message, e.hint) from e

    def _maybe_tools(self, tools: list[str], query: str, messages: list[dict], resolved: ResolvedModel, backend, emit):
        """Let the enabled tools answer first (intent routing, then the tool calls)."""
        if not tools:
            return None
        from studio.tools.orchestrator import run_tools_for_turn

        def generate(msgs: list[dict], max_tokens: int) -> str:
            return _complete(backend, resolved, msgs, max_tokens, Sampling(temperature=0.0))

        # an instruct model or a fine-tune writes the tool call itself, under the schema's grammar;
        # a base model's calls parse but carry wrong values, so the tools area's extractors fill them
        constrained = None
        if isinstance(backend, LocalBackend) and not resolved.is_base:
            def constrained(prompt: str, schema: dict, max_tokens: int) -> str:
                # the call request is a user turn in the model's own template (the starter
                # curriculum trains exactly this), answered in fast mode by a thinking model
                prompt = render_prompt(TurnRequest(messages=[{"role": "user", "content": prompt}],
                                                   template=resolved.template, stop=resolved.stop))
                if resolved.native_thinking:
                    prompt += FAST_THINK_PREFILL
                try:
                    return backend.complete_json(prompt, schema, max_tokens)
                except BackendError as e:
                    raise StudioError(e.message, e.hint) from e

        emit({"type": "status", "text": "using tools"})
        out = run_tools_for_turn(self.studio, query, list(tools), generate, constrained=constrained, confirm=self.confirm_tool)
        if out is None:
            return None
        calls = [dict(c) for c in (out.calls or [])]
        emit({"type": "tools", "calls": calls})
        return calls, out.context or ""

    # ---- compare -------------------------------------------------------------------------
    def run_pane(
        self, prompt: str, pane: dict, *, slot: str, on_event=None, should_stop=None, settings: dict | None = None
    ) -> dict:
        """One compare pane: {"mode", "model", "adapter"}; nothing is stored until a vote."""
        if not (prompt or "").strip():
            raise UserError("The prompt is empty", hint="type a prompt to compare")
        conv = {"settings": dict(settings or {})}
        return self.run_turn_for(
            conv, [{"role": "user", "content": prompt.strip()}], mode=pane.get("mode", "fast"),
            on_event=on_event, should_stop=should_stop, slot=slot, model=pane.get("model"), adapter=pane.get("adapter"),
        )

    def vote(self, prompt: str, answer_a: str, answer_b: str, choice: str, dataset: str, *, meta: dict | None = None) -> dict:
        """Save a compare vote as a preference row {"prompt", "chosen", "rejected"} (a new dataset version).

        A tie prefers neither answer, so it adds no row (DPO and reward models need a winner)."""
        if choice not in ("a", "b", "tie"):
            raise UserError(f"A vote is a, b or tie, not {choice!r}")
        if choice == "tie":
            return {"saved": False, "reason": "a tie prefers neither answer, so no preference row was added"}
        dataset = (dataset or "").strip()
        if not dataset:
            raise UserError("Choose a preference dataset to save the vote into", hint="type a dataset name")
        if not answer_a.strip() or not answer_b.strip():
            raise UserError("Both panes need an answer before a vote", hint="wait for both answers, or run again")
        chosen, rejected = (answer_a, answer_b) if choice == "a" else (answer_b, answer_a)
        from studio.datasets.rows import append_rows

        v = append_rows(
            self.db, dataset, "preference", [{"prompt": prompt, "chosen": chosen, "rejected": rejected}],
            source="chat-compare", note=vote_note(choice, meta),
        )
        return {"saved": True, "dataset": dataset, "version": v.version, "rows": v.row_count}

    # ---- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in MODES:
            raise UserError(f"Unknown mode {mode!r}", hint="one of fast, reasoning, auto")

    @staticmethod
    def _conv(s, conv_id: int) -> Conversation:
        c = s.get(Conversation, int(conv_id))
        if c is None:
            raise NotFound(f"No conversation with id {conv_id}", hint="it may have been deleted")
        return c


def _complete(backend, resolved: ResolvedModel, messages: list[dict], max_tokens: int, sampling: Sampling) -> str:
    prompt = render_prompt(TurnRequest(messages=messages, template=resolved.template, stop=resolved.stop))
    params = CompletionParams(max_tokens, resolved.stop, sampling)
    return "".join(ev.text for ev in backend.complete(prompt, params) if isinstance(ev, Piece))


class ContextTooLong(UserError):
    """A turn that cannot fit the model's context even without earlier turns (or, for the
    server, a request that does not fit as sent)."""

    def __init__(self, overflow):
        super().__init__(str(overflow)[0].upper() + str(overflow)[1:],
                         hint="shorten the message, lower the max tokens or the thinking budget, or start a new conversation")
        self.prompt_tokens, self.reserve, self.limit = overflow.prompt_tokens, overflow.reserve, overflow.limit


def _title_from(text: str) -> str:
    line = " ".join(text.strip().split())
    return line[:60] + ("…" if len(line) > 60 else "")


def vote_note(choice: str, meta: dict | None = None) -> str:
    """A dataset version's note for a compare vote, in words: "vote: A (Fast · m) preferred to B (Reasoning · m)"."""
    win, lose = ("a", "b") if choice == "a" else ("b", "a")
    meta = meta or {}

    def side(key: str) -> str:
        return key.upper() + (f" ({meta[key]})" if meta.get(key) else "")

    return f"vote: {side(win)} preferred to {side(lose)}"
