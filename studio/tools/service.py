"""The tools service: which tools exist, the knowledge base, HTTP tool definitions, the
intent classifier's versions, per-conversation tool switches and the decision log.

    svc = tools_service(studio)
    svc.run("calculator", {"expression": "2**10"})
    svc.add_http(HttpToolSpec(...)); svc.add_mcp(McpServerSpec(...)); svc.kb_add(["handbook.md"])
    svc.classifier()             # the active IntentClassifier (trains the default on first use)

Thread use: the service holds no open connections; each call opens its own session, so the
chat worker, the Evals page worker and the GUI thread can share one instance. The loaded
classifier is cached per version (sklearn's predict is safe to call from several threads).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from studio.errors import NotFound, UserError
from studio.tools.tables import http_tools, intent_classifiers, tool_decisions


REDUCED_SANDBOX_KEY = "tools.python.allow_reduced_sandbox"


class ToolsService:
    def __init__(self, studio):
        self.studio = studio
        self.db = studio.db
        self._lock = threading.Lock()
        self._classifier = None  # (version, IntentClassifier)

    # ---- paths ------------------------------------------------------------------------
    @property
    def kb_path(self) -> Path:
        return self.studio.home.kb / "kb.db"

    @property
    def classifier_dir(self) -> Path:
        return self.studio.home.root / "tools" / "classifiers"

    # ---- the tools --------------------------------------------------------------------
    def http_specs(self) -> list:
        from engines.tools.http_tool import HttpToolSpec

        with self.db.session() as s:
            rows = s.execute(sa.select(http_tools).order_by(http_tools.c.name)).mappings().all()
        return [HttpToolSpec(name=r["name"], description=r["description"], url=r["url"], schema=r["schema"],
                             method=r["method"], fields=r["fields"], examples=r["examples"], timeout_s=r["timeout_s"])
                for r in rows]

    def tools(self) -> dict:
        from engines.tools.registry import builtin_tools, http_tool

        from studio.tools.mcp import mcp_tools

        tools = builtin_tools(self.kb_path, allow_reduced_sandbox=self.allow_reduced_sandbox())
        for spec in self.http_specs():
            tools[spec.name] = http_tool(spec)
        tools.update(mcp_tools(self.studio))
        return tools

    def get(self, name: str):
        tools = self.tools()
        if name not in tools:
            raise NotFound(f"No tool named {name!r}", hint=f"available: {', '.join(sorted(tools))}")
        return tools[name]

    def describe(self) -> list[dict]:
        return [t.describe() for t in self.tools().values()]

    def run(self, name: str, args: dict, *, confirmed: bool = False) -> dict:
        """Run one tool. A tool that is not read-only (an MCP tool its server does not mark so)
        runs only with the user's confirmation."""
        from engines.tools.registry import run_tool

        tool = self.get(name)
        if not tool.read_only and not confirmed:
            raise UserError(f"{name} may change things (its server does not mark it read-only), so it needs your "
                            "confirmation", hint="run it again with --yes to allow this call")
        return run_tool(tool, args)

    # ---- the python tool's sandbox ---------------------------------------------------
    def allow_reduced_sandbox(self) -> bool:
        """The user's opt-in to run python code where only the audit hook and rlimits hold."""
        from studio.db import Setting

        with self.db.session() as s:
            row = s.get(Setting, REDUCED_SANDBOX_KEY)
            return bool(row and (row.value or {}).get("allow"))

    def set_allow_reduced_sandbox(self, allow: bool) -> None:
        from studio.db import Setting

        with self.db.session() as s:
            s.merge(Setting(key=REDUCED_SANDBOX_KEY, value={"allow": bool(allow)}))

    def sandbox_status(self) -> dict:
        """Each layer of the python tool's sandbox on this machine, and whether the tool runs."""
        from engines.tools.sandbox import sandbox_status

        status = sandbox_status()
        allow = self.allow_reduced_sandbox()
        runs = status["mode"] == "full" or allow
        return {**status, "allow_reduced": allow, "python_tool": "runs" if runs else "refuses (reduced mode)"}

    # ---- HTTP tools -------------------------------------------------------------------
    def add_http(self, spec) -> dict:
        from engines.tools.registry import BUILTIN

        if spec.name in BUILTIN:
            raise UserError(f"{spec.name!r} is a built-in tool", hint="pick another name for the HTTP tool")
        with self.db.session() as s:
            if s.execute(sa.select(http_tools.c.id).where(http_tools.c.name == spec.name)).first():
                raise UserError(f"An HTTP tool named {spec.name!r} already exists",
                                hint=f"remove it first with `studio tools remove {spec.name}`")
            s.execute(http_tools.insert().values(
                name=spec.name, description=spec.description, method=spec.method, url=spec.url,
                schema=spec.schema, fields=spec.fields, examples=spec.examples, timeout_s=spec.timeout_s))
        out = {"added": spec.to_dict()}
        clf = self.classifier()
        if spec.name not in clf.labels:
            if spec.examples:
                out["retrained"] = self.retrain_active()
            else:
                out["warning"] = (f"the intent classifier has no examples for {spec.name!r}, so it will not route to it; "
                                  "add example queries (--example, or a dataset row) and train again")
        return out

    def remove_http(self, name: str) -> None:
        with self.db.session() as s:
            n = s.execute(http_tools.delete().where(http_tools.c.name == name)).rowcount
        if not n:
            raise NotFound(f"No HTTP tool named {name!r}", hint="see `studio tools list`")

    # ---- MCP servers (stored by studio.tools.mcp) ---------------------------------------
    def add_mcp(self, spec, examples: dict[str, list[str]] | None = None) -> dict:
        """Add an MCP server as a tool source; retrain the router when examples are given."""
        from studio.tools.mcp import store_server

        out = store_server(self.studio, spec, examples)
        if examples:
            out["retrained"] = self.retrain_active()
        missing = [n for n in out["tools"] if n not in self.classifier().labels]
        if missing:
            out["warning"] = (f"the intent classifier has no examples for {', '.join(missing)}, so the chat will not route "
                              "to them; add example queries (--example TOOL=QUERY) and add the server again")
        return out

    # ---- knowledge base ---------------------------------------------------------------
    def kb(self):
        from engines.tools.search import KnowledgeBase

        return KnowledgeBase(self.kb_path)

    def kb_add(self, paths: list[str]) -> list[dict]:
        """Add files all-or-nothing: every file is read first, and one bad file adds none."""
        from engines.tools.search import KnowledgeBaseError, read_document

        problems = []
        for p in paths:
            try:
                read_document(Path(p).expanduser())
            except KnowledgeBaseError as e:
                problems.append(str(e))
        if problems:
            raise UserError("Nothing was added: " + "; ".join(problems),
                            hint="fix or leave out these files and add again")
        kb = self.kb()
        return [kb.add_file(p) for p in paths]

    def kb_search(self, query: str, k: int = 5) -> list[dict]:
        if not self.kb_path.exists():
            return []
        return self.kb().search(query, k)

    # ---- intent classifier ------------------------------------------------------------
    def classifier_versions(self) -> list[dict]:
        with self.db.session() as s:
            rows = s.execute(sa.select(intent_classifiers).order_by(intent_classifiers.c.version)).mappings().all()
        return [{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()} for r in rows]

    def active_version(self) -> dict | None:
        with self.db.session() as s:
            r = s.execute(sa.select(intent_classifiers).where(intent_classifiers.c.active)).mappings().first()
        return dict(r) if r else None

    def classifier(self):
        """The active classifier, loaded once per version; the shipped default is trained
        (about a second) and stored as version 1 the first time a home needs it."""
        from engines.tools.intent import DEFAULT_DATASET, IntentClassifier

        with self._lock:
            row = self.active_version()
            if row is None:
                self._train_locked(DEFAULT_DATASET, note="the shipped default", cross_validate=False)
                row = self.active_version()
            if self._classifier is None or self._classifier[0] != row["version"]:
                self._classifier = (row["version"], IntentClassifier.load(row["path"]))
            return self._classifier[1]

    def classifier_ref(self) -> str:
        self.classifier()
        row = self.active_version()
        return f"intent-v{row['version']} ({Path(row['source']).name}, tfidf+logreg)"

    def train_intent(self, dataset: str | Path) -> dict:
        with self._lock:
            return self._train_locked(Path(dataset).expanduser())

    def retrain_active(self) -> dict:
        """Train again on the active version's dataset (picking up HTTP tools' examples)."""
        row = self.active_version()
        from engines.tools.intent import DEFAULT_DATASET

        with self._lock:
            return self._train_locked(Path(row["source"]) if row else DEFAULT_DATASET, cross_validate=False)

    def _train_locked(self, dataset: Path, note: str = "", cross_validate: bool = True) -> dict:
        from engines.tools.intent import IntentDataError, load_examples, train_intent

        try:
            examples = load_examples(dataset)
        except IntentDataError as e:
            raise UserError(str(e), hint="rows look like {\"query\": \"...\", \"tool\": \"calculator\"} "
                                         "(tool null for small talk)") from None
        for spec in self.http_specs():
            examples += [(q, spec.name) for q in spec.examples]
        from studio.tools.mcp import examples as mcp_examples

        examples += mcp_examples(self.studio)
        clf = train_intent(examples, cross_validate=cross_validate)
        with self.db.session() as s:
            version = (s.scalar(sa.select(sa.func.max(intent_classifiers.c.version))) or 0) + 1
            path = self.classifier_dir / f"intent-v{version}.pkl"
            clf.meta.update(note=note, version=version)
            clf.save(path)
            s.execute(intent_classifiers.update().values(active=False))
            s.execute(intent_classifiers.insert().values(
                version=version, source=str(dataset), path=str(path), labels=clf.labels, meta=clf.meta, active=True))
        self._classifier = (version, clf)
        return {"version": version, "source": str(dataset), "labels": clf.labels, **clf.meta}

    def activate(self, version: int) -> None:
        with self.db.session() as s:
            if not s.execute(sa.select(intent_classifiers.c.id).where(intent_classifiers.c.version == version)).first():
                raise NotFound(f"No intent classifier version {version}", hint="see `studio tools classifiers`")
            s.execute(intent_classifiers.update().values(active=intent_classifiers.c.version == version))

    # ---- decisions --------------------------------------------------------------------
    def log_decision(self, query: str, decision, enabled: list[str] | None, origin: str = "chat") -> None:
        row = self.active_version()
        with self.db.session() as s:
            s.execute(tool_decisions.insert().values(
                query=query, tool=decision.tool, confidence=decision.confidence, top=decision.top,
                reason=decision.reason, probs=decision.to_dict()["probs"], enabled=sorted(enabled or []),
                classifier_version=row["version"] if row else None, origin=origin))

    def decisions(self, limit: int = 50) -> list[dict]:
        with self.db.session() as s:
            rows = s.execute(sa.select(tool_decisions).order_by(tool_decisions.c.id.desc()).limit(limit)).mappings().all()
        return [{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()} for r in rows]

    # ---- per-conversation switches ----------------------------------------------------
    def enabled_tools(self, conversation_id: int) -> list[str]:
        """Conversation.settings["tools"] (the chat's toggle); a conversation that never chose has none."""
        from studio.db.models import Conversation

        with self.db.session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                raise NotFound(f"No conversation {conversation_id}")
            chosen = (conv.settings or {}).get("tools")
        names = list(self.tools())
        return [t for t in chosen or [] if t in names]

    def set_enabled_tools(self, conversation_id: int, tools: list[str]) -> None:
        from studio.db.models import Conversation

        unknown = sorted(set(tools) - set(self.tools()))
        if unknown:
            raise UserError(f"Unknown tool(s) {unknown}", hint="see `studio tools list`")
        with self.db.session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                raise NotFound(f"No conversation {conversation_id}")
            conv.settings = {**(conv.settings or {}), "tools": list(tools)}


def tools_service(studio) -> ToolsService:
    """One service per Studio object (stored on it, as studio/core.py is not ours to edit)."""
    svc = studio.__dict__.get("_tools_service")
    if svc is None:
        svc = studio.__dict__["_tools_service"] = ToolsService(studio)
    return svc


def parse_json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{what} is not valid JSON: {e.msg} at column {e.colno}",
                        hint="quote it in single quotes: '{\"key\": \"value\"}'") from None
