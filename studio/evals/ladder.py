"""The ladder report: one suite over every rung of a recipe (base, +SFT, +DPO, +GRPO) in every mode.

    out = run_ladder(studio, "suite.jsonl", models=None, modes=("fast", "reasoning", "auto"))
    out["summary"]     # [{"model", "stage", "mode", "family", "n", "accuracy", "end_of_turn",
                       #   "think_closed", "tool_correct", "hidden_tokens", "latency_s", "cost"}]
    out["rows"]        # every turn: reply, thinking, token counts and flags, to re-score elsewhere
    list_ladder_runs(studio); get_ladder_run(studio, run_id)     # stored as EvalRun(kind="ladder")

Suite rows are `{"family", "query", "answer"?, "expect_tool"?}`. How each family is scored:
- multi_step, single_step: the last number of the reply equals `answer`;
- unanswerable: the reply declines (or a tool is called) and states no number that is not in
  the question: an invented specific is a miss;
- chat_norms: the reply ends its turn on its own (before max tokens) with no template tags;
  the `declined` flag (not scored) shows replies that decline a prompt that holds all they need;
- tool: with every tool enabled, the first call goes to `expect_tool` (and the calculator's
  result equals `answer` when the row gives one; a search call needs a non-empty query).
Every row also records end of turn (stopped before max tokens), whether the thinking closed
on its own (reasoning turns: not budget-forced), hidden and visible tokens, latency and cost.
Turns are greedy (temperature 0) unless told otherwise, so two runs agree.

Default models: the packaged base and, for each training stage of the last `starter` recipe
run in this home, that stage's adapter as a GGUF LoRA (exported on demand, a few seconds);
without a recipe run, the base and the shipped starter assistant. Slow: call it from a worker
thread or the CLI (`studio eval ladder`), never the GUI thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines.jsonl import json_lines
from studio.errors import StudioError, UserError

FAMILIES = ("multi_step", "single_step", "unanswerable", "chat_norms", "tool")
MODES = ("fast", "reasoning", "auto")
DEFAULT_SETTINGS = {"temperature": 0.0, "max_tokens_fast": 96, "max_tokens_reasoning": 96, "think_budget": 160,
                    "think_min": 0, "use_router_classifier": False, "system_prompt": ""}

_NUM = re.compile(r"-?\d+(?:\.\d+)?")
_TAGS = re.compile(r"<start_of_turn>|<end_of_turn>|<bos>|<eos>|</?think>|<\|im_(?:start|end)\|>|<\|eot_id\|>|"
                   r"<\|start_header_id\|>|<\|endoftext\|>")
_DECLINE = re.compile(
    r"\b(i\s+(?:do\s*n[o']t|don't|cannot|can't|can not|am not able to|'m not able to|have no)|"
    r"i\s+don.t|not sure|no access|without (?:a|the) (?:tool|search)|unable to|can.t (?:look|check|verify|know)|"
    r"don.t have (?:that|this|access|the)|i.m sorry)\b",
    re.I,
)


# ---- the suite ------------------------------------------------------------------------------------
def load_suite(path: str | Path) -> list[dict[str, Any]]:
    """Suite rows, checked: any problem is reported as FILE:LINE and nothing runs."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such suite file", hint="a JSONL file of {family, query, answer?, expect_tool?} rows")
    rows, problems = [], []
    for n, r, problem in json_lines(path):
        if problem or not isinstance(r, dict):
            problems.append(problem or f"{path}:{n}: a row is a JSON object")
            continue
        if r.get("family") not in FAMILIES:
            problems.append(f"{path}:{n}: family {r.get('family')!r} is not one of {', '.join(FAMILIES)}")
        if not isinstance(r.get("query"), str) or not r["query"].strip():
            problems.append(f"{path}:{n}: `query` must be a non-empty string")
        if r.get("family") in ("multi_step", "single_step") and _number(r.get("answer")) is None:
            problems.append(f"{path}:{n}: a {r.get('family')} row needs a numeric `answer`")
        if r.get("family") == "tool" and not isinstance(r.get("expect_tool"), str):
            problems.append(f"{path}:{n}: a tool row needs `expect_tool`")
        r["line"] = n
        rows.append(r)
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise UserError("\n".join(problems[:20]) + more, hint="fix the suite file; nothing was run")
    if not rows:
        raise UserError(f"{path}: the suite has no rows")
    return rows


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.replace(",", "").strip())
        except ValueError:
            return None
    return None


def last_number(text: str) -> float | None:
    nums = _NUM.findall((text or "").replace(",", ""))
    return float(nums[-1]) if nums else None


# ---- scoring one turn ---------------------------------------------------------------------------------
def score_row(row: dict, out: dict) -> dict[str, Any]:
    """The flags of one turn (plain data; `out` is ChatService.run_turn_for's result)."""
    reply = out.get("answer") or ""
    meta = out.get("meta") or {}
    stats = out.get("stats") or {}
    finish = meta.get("finish_reason")
    calls = meta.get("tool_calls") or []
    flags: dict[str, Any] = {
        "end_of_turn": finish in ("stop", "eos"),
        "tags_in_text": bool(_TAGS.search(reply)),
        "ran_mode": out.get("mode"),
        "think_closed": (not meta.get("budget_forced")) if out.get("mode") == "reasoning" else None,
        "tool_called": calls[0]["tool"] if calls else None,
    }
    fam = row["family"]
    if fam in ("multi_step", "single_step"):
        got = last_number(reply)
        flags["correct"] = got is not None and abs(got - float(_number(row["answer"]))) < 1e-6
    elif fam == "unanswerable":
        q_nums = set(_NUM.findall(row["query"].replace(",", "")))
        invented = [x for x in _NUM.findall(reply.replace(",", "")) if x not in q_nums]
        flags["declined"] = bool(_DECLINE.search(reply))
        flags["correct"] = bool(calls) or (flags["declined"] and not invented)
    elif fam == "chat_norms":
        flags["correct"] = flags["end_of_turn"] and not flags["tags_in_text"]
        # not part of the score (the issue defines it by form), but a greeting or an instruction on
        # given text answered with "I don't know that without a tool" is a miss a reader must see
        flags["declined"] = bool(_DECLINE.search(reply))
    else:
        ok = bool(calls) and calls[0]["tool"] == row["expect_tool"]
        if ok and row.get("answer") is not None and row["expect_tool"] == "calculator":
            res = (calls[0].get("result") or {}).get("result")
            ok = _number(res) is not None and abs(_number(res) - _number(row["answer"])) < 1e-6
        if ok and row["expect_tool"] == "search":
            ok = bool(str((calls[0].get("args") or {}).get("query", "")).strip())
        flags["tool_correct"] = ok
        flags["correct"] = ok
    flags.update({k: stats.get(k) for k in ("hidden_tokens", "visible_tokens", "prompt_tokens", "latency_s", "thinking_s",
                                            "ttft_s", "cost")})
    return flags


def summarize(rows: list[dict]) -> list[dict[str, Any]]:
    """Per model x mode x family (and family "all"): rates and means."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        for fam in (r["family"], "all"):
            groups.setdefault((r["model"], r["stage"], r["mode"], fam), []).append(r)

    def rate(rs, key):
        vals = [bool(x[key]) for x in rs if x.get(key) is not None]
        return round(sum(vals) / len(vals), 4) if vals else None

    def mean(rs, key):
        vals = [float(x[key]) for x in rs if x.get(key) is not None]
        return round(sum(vals) / len(vals), 4) if vals else None

    out = []
    for (model, stage, mode, fam), rs in groups.items():
        out.append({
            "model": model, "stage": stage, "mode": mode, "family": fam, "n": len(rs),
            "accuracy": rate(rs, "correct"), "end_of_turn": rate(rs, "end_of_turn"),
            "think_closed": rate(rs, "think_closed"), "tool_correct": rate(rs, "tool_correct"),
            # unanswerable: wanted; chat_norms: over-declining; pooled over both it means nothing
            "declined": rate(rs, "declined") if fam != "all" else None,
            "reasoning_share": rate([dict(x, r=x["ran_mode"] == "reasoning") for x in rs], "r"),
            "hidden_tokens": mean(rs, "hidden_tokens"), "visible_tokens": mean(rs, "visible_tokens"),
            "latency_s": mean(rs, "latency_s"), "cost": round(sum(float(x.get("cost") or 0) for x in rs), 6),
            "errors": sum(1 for x in rs if x.get("error")),
        })
    order = {f: i for i, f in enumerate(FAMILIES + ("all",))}
    return sorted(out, key=lambda s: order.get(s["family"], 9))


# ---- which models --------------------------------------------------------------------------------------
def default_models(studio, wait_export: Callable[[int], Any] | None = None) -> list[dict[str, str]]:
    """[{"model": registry name, "stage": label}] for base and each stage of the last starter run."""
    from studio.db import Setting
    from studio.errors import NotFound
    from studio.models.registry import DEFAULT_MODEL_NAME
    from studio.starter.install import STARTER_NAME

    out = [{"model": DEFAULT_MODEL_NAME, "stage": "base"}]
    with studio.db.session() as s:
        row = s.get(Setting, "recipe.starter")
        state = dict(row.value) if row and row.value else {}
    stages = state.get("stages") or {}
    trained = [(name, info) for name, info in stages.items()
               if info.get("state") == "succeeded" and info.get("kind") in ("sft", "dpo", "grpo") and info.get("model")]
    if not trained:
        try:
            studio.registry.get(STARTER_NAME)
            out.append({"model": STARTER_NAME, "stage": "starter"})
        except NotFound:
            pass
        return out
    for name, info in trained:
        out.append({"model": gguf_for_adapter(studio, info["model"], wait_export), "stage": f"+{name.upper()}"})
    return out


def gguf_for_adapter(studio, adapter_name: str, wait_export: Callable[[int], Any] | None = None) -> str:
    """The GGUF LoRA export of a PEFT adapter: an existing one, else a new export job."""
    from studio.models.exports import submit_export

    for m in studio.registry.list():
        if m.format == "gguf-lora" and (m.meta or {}).get("adapter") == adapter_name:
            return m.name
    job_id = submit_export(studio, adapter_name)
    studio.jobs.try_become_runner()
    job = (wait_export or (lambda j: studio.jobs.wait(j, timeout=600)))(job_id)
    job = studio.jobs.get(job_id)
    if job.state != "succeeded":
        raise UserError(f"Exporting {adapter_name!r} for the ladder failed: {job.error}", hint=f"see job {job_id}")
    return (job.result or {})["model"]


# ---- running -------------------------------------------------------------------------------------------
def run_ladder(
    studio,
    suite_path: str | Path,
    models: list[str] | None = None,
    modes: tuple[str, ...] | list[str] = MODES,
    on_progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    settings: dict | None = None,
    limit: int | None = None,
    per_family: int | None = None,
    store: bool = True,
) -> dict[str, Any]:
    from studio.chat import ChatService

    rows = load_suite(suite_path)
    if per_family:  # a quick ladder: the first N rows of each family
        kept, counts = [], {}
        for r in rows:
            if counts.get(r["family"], 0) < per_family:
                counts[r["family"]] = counts.get(r["family"], 0) + 1
                kept.append(r)
        rows = kept
    if limit:
        rows = rows[:limit]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise UserError(f"Unknown mode(s): {', '.join(bad)}", hint="fast, reasoning, auto")
    # "LABEL=MODEL" names a rung ("+SFT=my-sft (GGUF LoRA)"); a bare name is its own label
    picks = default_models(studio) if not models else [
        {"model": m.split("=", 1)[1], "stage": m.split("=", 1)[0]} if "=" in m else {"model": m, "stage": m} for m in models]
    for p in picks:  # unknown names fail before any turn runs; a PEFT adapter runs as its GGUF LoRA export
        if studio.registry.get(p["model"]).format == "peft":
            p["model"] = gguf_for_adapter(studio, p["model"])
    st = {**DEFAULT_SETTINGS, **(settings or {})}
    tools = _all_tools(studio)
    chat = ChatService(studio)
    progress = on_progress or (lambda _e: None)
    stop = should_stop or (lambda: False)
    done_rows: list[dict] = []
    total = len(picks) * len(modes) * len(rows)
    t0 = time.perf_counter()
    try:
        for p in picks:
            for mode in modes:
                for r in rows:
                    if stop():
                        raise UserError("The ladder run was stopped", hint="nothing was stored")
                    conv = {"settings": {**st, "tools": tools if r["family"] == "tool" else []}}
                    try:
                        out = chat.run_turn_for(conv, [{"role": "user", "content": r["query"]}], mode=mode,
                                                model=p["model"], slot="ladder")
                    except UserError:
                        raise
                    except Exception as e:  # noqa: BLE001 - a failed turn (a host crash) is a scored miss
                        out = {"answer": "", "thinking": "", "mode": mode, "stats": {},  # and counted in "errors"
                               "meta": {"finish_reason": "error", "error": f"{type(e).__name__}: {e}"}}
                    flags = score_row(r, out)
                    done_rows.append({"model": p["model"], "stage": p["stage"], "mode": mode, "family": r["family"],
                                      "line": r["line"], "query": r["query"], "expected": r.get("answer", r.get("expect_tool")),
                                      "reply": out["answer"], "thinking": out["thinking"],
                                      "finish_reason": (out.get("meta") or {}).get("finish_reason"),
                                      "calculator_results": (out.get("stats") or {}).get("calculator_results", 0),
                                      "error": (out.get("meta") or {}).get("error"),
                                      "tool_calls": [{k: c.get(k) for k in ("tool", "args", "error")}
                                                     for c in (out.get("meta") or {}).get("tool_calls") or []],
                                      **flags})
                    progress({"done": len(done_rows), "total": total, "model": p["model"], "mode": mode})
    finally:
        chat.close()
    summary = summarize(done_rows)
    result = {"suite": str(suite_path), "models": [p["model"] for p in picks], "stages": [p["stage"] for p in picks],
              "modes": list(modes), "settings": st, "n_rows": len(rows), "summary": summary, "rows": done_rows,
              "wall_s": round(time.perf_counter() - t0, 1),
              "created_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if store:
        result["id"] = _store(studio, result)
    return result


def _all_tools(studio) -> list[str]:
    from studio.tools.service import tools_service

    return sorted(tools_service(studio).tools())


def _store(studio, result: dict) -> int:
    from studio.db.models import EvalRun

    with studio.db.session() as s:
        run = EvalRun(kind="ladder", suite=result["suite"], model_ref=",".join(result["models"]),
                      metrics={"summary": result["summary"], "models": result["models"], "stages": result["stages"],
                               "modes": result["modes"], "n_rows": result["n_rows"], "settings": result["settings"],
                               "wall_s": result["wall_s"]},
                      details={"rows": result["rows"]})
        s.add(run)
        s.flush()
        return run.id


def _ladder_view(run: dict) -> dict:
    m = run["metrics"] or {}
    return {"id": run["id"], "created_at": run["created_at"], "suite": run["suite"],
            "models": m.get("models", []), "stages": m.get("stages", []), "modes": m.get("modes", []),
            "n_rows": m.get("n_rows")}


def list_ladder_runs(studio) -> list[dict]:
    from studio.tools.suite import list_runs

    return [_ladder_view(r) for r in list_runs(studio, "ladder")]


def get_ladder_run(studio, run_id: int) -> dict:
    from studio.tools.suite import get_run

    run = get_run(studio, run_id, kind="ladder", hint="see `studio evals list --kind ladder`")
    m = run["metrics"] or {}
    return {**_ladder_view(run), "settings": m.get("settings"), "summary": m.get("summary", []),
            "rows": (run["details"] or {}).get("rows", [])}


# ---- the table people read -----------------------------------------------------------------------------
def ladder_table(result: dict) -> str:
    """The ladder as text: one block per family, a line per stage x mode."""
    pct = lambda v: "  -  " if v is None else f"{v * 100:5.1f}"  # noqa: E731
    lines = [f"suite: {result['suite']} ({result['n_rows']} rows) · greedy={result['settings'].get('temperature') == 0}",
             f"{'family':<13}{'stage':<12}{'mode':<10}{'n':>4}{'acc%':>7}{'EOT%':>7}{'think%':>8}{'tool%':>7}"
             f"{'hidden':>8}{'lat s':>7}{'cost':>9}"]
    order = {s: i for i, s in enumerate(result.get("stages", []))}
    morder = {m: i for i, m in enumerate(MODES)}
    fams = [f for f in FAMILIES + ("all",) if any(s["family"] == f for s in result["summary"])]
    for fam in fams:
        rows = sorted((s for s in result["summary"] if s["family"] == fam),
                      key=lambda s: (order.get(s["stage"], 99), morder.get(s["mode"], 9)))
        for s in rows:
            lines.append(f"{fam:<13}{s['stage'][:11]:<12}{s['mode']:<10}{s['n']:>4}{pct(s['accuracy']):>7}"
                         f"{pct(s['end_of_turn']):>7}{pct(s['think_closed']):>8}{pct(s['tool_correct']):>7}"
                         f"{(s['hidden_tokens'] or 0):>8.1f}{(s['latency_s'] or 0):>7.2f}{s['cost']:>9.4f}")
        lines.append("")
    return "\n".join(lines)
