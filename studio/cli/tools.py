"""`studio tools ...` and `studio kb ...`: the tools, HTTP tool definitions, the intent
classifier and the knowledge base, headless."""

from __future__ import annotations

from studio.cli import action, command_group
from studio.errors import UserError


def register(sub, groups) -> None:
    common = groups["common"]
    tsub = command_group(sub, common, "tools", "tools: list, run, HTTP tools, the intent classifier")

    action(tsub, common, "list", cmd_list, help="built-in, HTTP and MCP tools (NAME.TOOL) with their argument schemas")

    p = action(tsub, common, "run", cmd_run, help="run one tool with JSON arguments")
    p.add_argument("name")
    p.add_argument("--args", default="{}", help='the arguments as JSON, e.g. \'{"code": "print(1)"}\'')
    p.add_argument("--yes", action="store_true", help="allow a tool that is not read-only (MCP) to run")

    p = action(tsub, common, "add-mcp", cmd_add_mcp, help="add an MCP server's tools (stdio command or HTTP URL)")
    p.add_argument("--name", required=True, help="its tools become NAME.TOOL")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--command", help='stdio: the command line, e.g. "python notes_server.py"')
    src.add_argument("--url", help="streamable HTTP: e.g. http://127.0.0.1:9000/mcp")
    p.add_argument("--env", action="append", default=[], help="K=V for a stdio server (repeat)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to start and answer one call")
    p.add_argument("--example", action="append", default=[], dest="examples",
                   help="TOOL=QUERY: a query that should route to NAME.TOOL (repeat); retrains the intent classifier")

    p = action(tsub, common, "remove-mcp", cmd_remove_mcp, help="remove an MCP server and its tools")
    p.add_argument("name")

    p = action(tsub, common, "refresh-mcp", cmd_refresh_mcp, help="list an MCP server's tools again")
    p.add_argument("name")

    p = action(tsub, common, "sandbox-status", cmd_sandbox_status,
               help="each layer of the python tool's sandbox on this machine, and whether the tool runs")
    p.add_argument("--allow-reduced", choices=["on", "off"], default=None,
                   help="opt in (or out) to running python where only the audit hook and rlimits hold")

    p = action(tsub, common, "add-http", cmd_add_http, help="define an HTTP tool from a URL template")
    p.add_argument("--name", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--url", required=True, help="e.g. 'http://127.0.0.1:8000/weather?city={city}'")
    p.add_argument("--schema", default=None, help="JSON schema of the arguments (default: every placeholder a string)")
    p.add_argument("--method", default="GET", choices=["GET", "POST"])
    p.add_argument("--field", action="append", default=[], dest="fields",
                   help="response field to pass on (dotted path; repeat); default: the whole response")
    p.add_argument("--example", action="append", default=[], dest="examples",
                   help="a query that should call this tool (repeat); retrains the intent classifier")

    p = action(tsub, common, "remove", cmd_remove, help="remove an HTTP tool")
    p.add_argument("name")

    p = action(tsub, common, "train-intent", cmd_train, help="train a new intent classifier version")
    p.add_argument("dataset", help='JSONL of {"query": ..., "tool": NAME or null}')

    p = action(tsub, common, "classifiers", cmd_classifiers, help="intent classifier versions")
    p.add_argument("--activate", type=int, help="make this version the active one")

    p = action(tsub, common, "route", cmd_route, help="which tool a query goes to, and why")
    p.add_argument("query")
    p.add_argument("--enabled", help="comma-separated tools enabled (default: all)")

    p = action(tsub, common, "decisions", cmd_decisions, help="the latest logged routing decisions")
    p.add_argument("--limit", type=int, default=20)

    ksub = command_group(sub, common, "kb", "the knowledge base the search tool reads")
    p = action(ksub, common, "add", cmd_kb_add, help="add txt, md or pdf files (all or nothing)")
    p.add_argument("paths", nargs="+")
    p = action(ksub, common, "search", cmd_kb_search, help="BM25 search with sources and snippets")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5)
    action(ksub, common, "list", cmd_kb_list, help="the documents in the knowledge base")


def _svc(ctx):
    from studio.tools.service import tools_service

    return tools_service(ctx.studio)


def cmd_list(args, ctx):
    from studio.tools.mcp import servers

    return {"tools": _svc(ctx).describe(),
            "mcp_servers": [{k: r[k] for k in ("name", "command", "url")} for r in servers(ctx.studio)]}


def cmd_run(args, ctx):
    from studio.tools.service import parse_json_arg

    tool_args = parse_json_arg(args.args, "--args")
    out = _svc(ctx).run(args.name, tool_args, confirmed=args.yes)
    if args.name == "python" and out["result"] is not None:
        # the python tool's own shape: {"ok", "stdout", "stderr", "error", "duration_s"} (+ layers)
        return {**out["result"], "_exit": 0 if out["ok"] else 1}
    return {**out, "_exit": 0 if out["ok"] else 1}


def cmd_sandbox_status(args, ctx):
    svc = _svc(ctx)
    if args.allow_reduced is not None:
        svc.set_allow_reduced_sandbox(args.allow_reduced == "on")
    return svc.sandbox_status()


def cmd_add_http(args, ctx):
    from engines.tools.http_tool import HttpToolError, HttpToolSpec, url_placeholders
    from studio.tools.service import parse_json_arg

    try:
        names = url_placeholders(args.url)
        schema = parse_json_arg(args.schema, "--schema") if args.schema else {
            "type": "object", "properties": {n: {"type": "string"} for n in names}, "required": names}
        spec = HttpToolSpec(name=args.name, description=args.description, url=args.url, schema=schema,
                            method=args.method, fields=args.fields, examples=args.examples)
    except HttpToolError as e:
        raise UserError(str(e)) from None
    return _svc(ctx).add_http(spec)


def cmd_add_mcp(args, ctx):
    from engines.tools.mcp_client import McpConfigError, McpServerSpec
    from studio.tools.mcp import parse_examples

    env = {}
    for kv in args.env:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise UserError(f"--env {kv!r} must look like KEY=VALUE")
        env[k] = v
    try:
        spec = McpServerSpec(name=args.name, command=args.command or (), url=args.url or "", env=env, timeout_s=args.timeout)
    except (McpConfigError, ValueError) as e:
        raise UserError(str(e)) from None
    return _svc(ctx).add_mcp(spec, parse_examples(args.examples))


def cmd_remove_mcp(args, ctx):
    from studio.tools.mcp import remove_server

    remove_server(ctx.studio, args.name)
    return {"removed": args.name}


def cmd_refresh_mcp(args, ctx):
    from studio.tools.mcp import refresh

    return refresh(ctx.studio, args.name)


def cmd_remove(args, ctx):
    _svc(ctx).remove_http(args.name)
    return {"removed": args.name}


def cmd_train(args, ctx):
    return _svc(ctx).train_intent(args.dataset)


def cmd_classifiers(args, ctx):
    svc = _svc(ctx)
    if args.activate is not None:
        svc.activate(args.activate)
    return {"classifiers": svc.classifier_versions()}


def cmd_route(args, ctx):
    from studio.tools.orchestrator import route

    svc = _svc(ctx)
    enabled = args.enabled.split(",") if args.enabled else list(svc.tools())
    d = route(ctx.studio, args.query, enabled, origin="cli")
    return {**d.to_dict(), "explain": svc.classifier().explain(args.query), "classifier": svc.classifier_ref()}


def cmd_decisions(args, ctx):
    return {"decisions": _svc(ctx).decisions(args.limit)}


def cmd_kb_add(args, ctx):
    return {"added": _svc(ctx).kb_add(args.paths)}


def cmd_kb_search(args, ctx):
    hits = _svc(ctx).kb_search(args.query, args.k)
    return {"query": args.query, "hits": [{k: h[k] for k in ("source", "title", "position", "score", "snippet", "path")}
                                          for h in hits]}


def cmd_kb_list(args, ctx):
    return {"documents": _svc(ctx).kb().documents()}
