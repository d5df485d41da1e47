"""Tool-call accuracy suites: run a JSONL suite through the chat's routing and score it.

A suite row: {"query": str, "expect": {"tool": "calculator" | ... | null, "args": {subset}}}.

    result = run_suite(studio, "suite.jsonl")      # stores an EvalRun(kind="tools")
    result["metrics"]["accuracy"], result["metrics"]["confusion"]

Metrics: tool-selection accuracy; per-label precision, recall and support ("none" is a
label); "none" (irrelevance) accuracy = the share of no-tool rows answered without a tool;
argument match rate over rows whose expectation names arguments (a wrong tool is a miss);
and the confusion matrix, rows = expected, columns = chosen. Routing is the same
`classifier.predict(query, enabled)` the chat uses; by default every label the suite or the
classifier knows is enabled, so the suite measures the router, not the switches.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

from studio.errors import UserError

NONE = "none"


def load_suite(path: str | Path) -> list[dict]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"Suite {path} does not exist", hint="pass a JSONL file of {\"query\", \"expect\"} rows")
    from engines.tools.intent import IntentDataError, query_rows

    rows = []
    try:
        for n, row in query_rows(path):
            expect = row.get("expect")
            if not isinstance(expect, dict) or "tool" not in expect:
                raise UserError(f"{path}:{n}: needs \"expect\": {{\"tool\": NAME or null}}")
            if expect["tool"] is not None and not isinstance(expect["tool"], str):
                raise UserError(f"{path}:{n}: expect.tool must be a tool name or null")
            if not isinstance(expect.get("args", {}), dict):
                raise UserError(f"{path}:{n}: expect.args must be an object")
            rows.append({"line": n, "query": row["query"], "tool": expect["tool"] or NONE,
                         "args": expect.get("args") or {}})
    except IntentDataError as e:
        raise UserError(str(e), hint="one JSON object per line: {\"query\": ..., \"expect\": {\"tool\": ...}}") from None
    if not rows:
        raise UserError(f"Suite {path} has no rows")
    return rows


def _norm(v) -> str:
    return re.sub(r"\s+", " ", str(v)).strip().lower()


def args_match(tool: str, expected: dict, got: dict) -> bool:
    """Each expected argument equals the extracted one (case and spacing aside); calculator
    expressions match when they evaluate to the same number."""
    from engines.tools.calculator import CalculatorError, calculate

    for key, want in expected.items():
        have = got.get(key)
        if have is None:
            return False
        if tool == "calculator" and key == "expression":
            try:
                if calculate(str(have))["result"] != calculate(str(want))["result"]:
                    return False
                continue
            except CalculatorError:
                return False
        if _norm(have) != _norm(want):
            return False
    return True


def score(rows: list[dict], labels: list[str]) -> dict:
    """Metrics from rows that carry "tool" (expected) and "chosen"."""
    index = {lab: i for i, lab in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for r in rows:
        confusion[index[r["tool"]]][index[r["chosen"]]] += 1
    per = {}
    for lab in labels:
        i = index[lab]
        tp = confusion[i][i]
        predicted = sum(row[i] for row in confusion)
        support = sum(confusion[i])
        per[lab] = {"precision": round(tp / predicted, 4) if predicted else None,
                    "recall": round(tp / support, 4) if support else None,
                    "support": support, "predicted": predicted}
    correct = sum(r["tool"] == r["chosen"] for r in rows)
    none_rows = [r for r in rows if r["tool"] == NONE]
    arg_rows = [r for r in rows if r["args"]]
    return {
        "n": len(rows),
        "accuracy": round(correct / len(rows), 4),
        "none_accuracy": round(sum(r["chosen"] == NONE for r in none_rows) / len(none_rows), 4) if none_rows else None,
        "arg_match_rate": round(sum(r["args_ok"] for r in arg_rows) / len(arg_rows), 4) if arg_rows else None,
        "arg_rows": len(arg_rows),
        "per_tool": per,
        "labels": labels,
        "confusion": confusion,
    }


def run_suite(studio, path: str | Path, *, enabled: list[str] | None = None, store: bool = True,
              progress: Callable[[int, int], None] | None = None) -> dict:
    """Route every row, extract arguments where the row expects some, score, store an EvalRun."""
    from engines.tools.extract import ExtractError, extract_args
    from studio.db.models import EvalRun
    from studio.tools.service import tools_service

    rows = load_suite(path)
    svc = tools_service(studio)
    clf = svc.classifier()
    tools = svc.tools()
    expected = {r["tool"] for r in rows} - {NONE}
    if enabled is None:
        enabled = sorted(expected | set(clf.labels) - {NONE})
    start = time.perf_counter()
    decisions = clf.predict_many([r["query"] for r in rows], enabled)
    for i, (r, d) in enumerate(zip(rows, decisions)):
        r["chosen"] = d.tool or NONE
        r["confidence"] = round(d.confidence, 4)
        r["reason"] = d.reason
        r["got_args"], r["args_ok"] = {}, False
        if r["args"] and r["chosen"] == r["tool"]:
            schema = tools[r["tool"]].parameters if r["tool"] in tools else {"properties": {k: {} for k in r["args"]}}
            try:
                r["got_args"] = extract_args(r["tool"], r["query"], schema)
                r["args_ok"] = args_match(r["tool"], r["args"], r["got_args"])
            except ExtractError as e:
                r["arg_error"] = str(e)
        if progress:
            progress(i + 1, len(rows))
    labels = sorted(({r["tool"] for r in rows} | {r["chosen"] for r in rows}) - {NONE}) + [NONE]
    metrics = score(rows, labels)
    metrics["duration_s"] = round(time.perf_counter() - start, 3)
    ref = svc.classifier_ref()
    out = {"suite": str(Path(path).expanduser()), "model_ref": ref, "enabled": enabled, "metrics": metrics,
           "rows": rows, "classifier": clf.meta}
    if store:
        with studio.db.session() as s:
            run = EvalRun(kind="tools", suite=out["suite"], model_ref=ref, metrics=metrics,
                          details={"rows": rows, "enabled": enabled, "classifier": clf.meta})
            s.add(run)
            s.flush()
            out["run_id"] = run.id
    return out


# ---- the one reader of stored eval runs, of every kind (the ladder's views build on it) ----------
def _created(r) -> str:
    return r.created_at.isoformat(timespec="seconds")


def list_runs(studio, kind: str = "tools") -> list[dict]:
    """Stored runs of one kind, newest first, without their details."""
    from sqlalchemy import select

    from studio.db.models import EvalRun

    with studio.db.session() as s:
        runs = s.scalars(select(EvalRun).where(EvalRun.kind == kind).order_by(EvalRun.id.desc())).all()
        return [{"id": r.id, "suite": r.suite, "model_ref": r.model_ref, "metrics": r.metrics,
                 "created_at": _created(r)} for r in runs]


def get_run(studio, run_id: int, kind: str | None = None, hint: str | None = None) -> dict:
    """One run with its details; with `kind`, a run of another kind counts as missing."""
    from studio.db.models import EvalRun
    from studio.errors import NotFound

    with studio.db.session() as s:
        r = s.get(EvalRun, int(run_id))
        if r is None or (kind is not None and r.kind != kind):
            raise NotFound(f"No {kind or 'eval'} run {run_id}", hint=hint)
        return {"id": r.id, "kind": r.kind, "suite": r.suite, "model_ref": r.model_ref, "metrics": r.metrics,
                "details": r.details, "created_at": _created(r)}
