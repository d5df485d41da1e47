"""`studio tools ...` and `studio kb ...`: the tools, HTTP tool definitions, the intent
classifier and the knowledge base, headless."""

from __future__ import annotations

from studio.errors import UserError


def register(sub, groups) -> None:
    common = groups["common"]
    tools = sub.add_parser("tools", parents=[common], help="tools: list, run, HTTP tools, the intent classifier")
    tsub = tools.add_subparsers(dest="tools_cmd", metavar="ACTION")
    tsub.required = True

    p = tsub.add_parser("list", parents=[common], help="built-in, HTTP and MCP tools (NAME.TOOL) with their argument schemas")
    p.set_defaults(func=cmd_list)

    p = tsub.add_parser("run", parents=[common], help="run one tool with JSON arguments")
    p.add_argument("name")
    p.add_argument("--args", default="{}", help='the arguments as JSON, e.g. \'{"code": "print(1)"}\'')
    p.add_argument("--yes", action="store_true", help="allow a tool that is not read-only (MCP) to run")
    p.set_defaults(func=cmd_run)

    p = tsub.add_parser("add-mcp", parents=[common], help="add an MCP server's tools (stdio command or HTTP URL)")
    p.add_argument("--name", required=True, help="its tools become NAME.TOOL")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--command", help='stdio: the command line, e.g. "python notes_server.py"')
    src.add_argument("--url", help="streamable HTTP: e.g. http://127.0.0.1:9000/mcp")
    p.add_argument("--env", action="append", default=[], help="K=V for a stdio server (repeat)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to start and answer one call")
    p.add_argument("--example", action="append", default=[], dest="examples",
                   help="TOOL=QUERY: a query that should route to NAME.TOOL (repeat); retrains the intent classifier")
    p.set_defaults(func=cmd_add_mcp)

    p = tsub.add_parser("remove-mcp", parents=[common], help="remove an MCP server and its tools")
    p.add_argument("name")
    p.set_defaults(func=cmd_remove_mcp)

    p = tsub.add_parser("refresh-mcp", parents=[common], help="list an MCP server's tools again")
    p.add_argument("name")
    p.set_defaults(func=cmd_refresh_mcp)

    p = tsub.add_parser("sandbox-status", parents=[common],
                        help="each layer of the python tool's sandbox on this machine, and whether the tool runs")
    p.add_argument("--allow-reduced", choices=["on", "off"], default=None,
                   help="opt in (or out) to running python where only the audit hook and rlimits hold")
    p.set_defaults(func=cmd_sandbox_status)

    p = tsub.add_parser("add-http", parents=[common], help="define an HTTP tool from a URL template")
    p.add_argument("--name", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--url", required=True, help="e.g. 'http://127.0.0.1:8000/weather?city={city}'")
    p.add_argument("--schema", default=None, help="JSON schema of the arguments (default: every placeholder a string)")
    p.add_argument("--method", default="GET", choices=["GET", "POST"])
    p.add_argument("--field", action="append", default=[], dest="fields",
                   help="response field to pass on (dotted path; repeat); default: the whole response")
    p.add_argument("--example", action="append", default=[], dest="examples",
                   help="a query that should call this tool (repeat); retrains the intent classifier")
    p.set_defaults(func=cmd_add_http)

    p = tsub.add_parser("remove", parents=[common], help="remove an HTTP tool")
    p.add_argument("name")
    p.set_defaults(func=cmd_remove)

    p = tsub.add_parser("train-intent", parents=[common], help="train a new intent classifier version")
    p.add_argument("dataset", help='JSONL of {"query": ..., "tool": NAME or null}')
    p.set_defaults(func=cmd_train)

    p = tsub.add_parser("classifiers", parents=[common], help="intent classifier versions")
    p.add_argument("--activate", type=int, help="make this version the active one")
    p.set_defaults(func=cmd_classifiers)

    p = tsub.add_parser("route", parents=[common], help="which tool a query goes to, and why")
    p.add_argument("query")
    p.add_argument("--enabled", help="comma-separated tools enabled (default: all)")
    p.set_defaults(func=cmd_route)

    p = tsub.add_parser("decisions", parents=[common], help="the latest logged routing decisions")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_decisions)

    kb = sub.add_parser("kb", parents=[common], help="the knowledge base the search tool reads")
    ksub = kb.add_subparsers(dest="kb_cmd", metavar="ACTION")
    ksub.required = True
    p = ksub.add_parser("add", parents=[common], help="add txt, md or pdf files (all or nothing)")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_kb_add)
    p = ksub.add_parser("search", parents=[common], help="BM25 search with sources and snippets")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5)
    p.set_defaults(func=cmd_kb_search)
    p = ksub.add_parser("list", parents=[common], help="the documents in the knowledge base")
    p.set_defaults(func=cmd_kb_list)


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
