"""Tool use in the studio: which tools exist, routing a query to one, and measuring it.

    from studio.tools.service import tools_service
    tools_service(studio).run("calculator", {"expression": "2**10"})

The chat area needs two entry points:

    available_tools(studio) -> [{"name", "description", "kind"}]      # the per-conversation toggle
    run_tools_for_turn(studio, query, enabled_tools, generate)        # studio.tools.orchestrator

What is where:
    service.py        ToolsService: built-in, HTTP and MCP tools, the knowledge base, the intent
                      classifier's versions, per-conversation switches, the decision log
    mcp.py            the MCP servers a user added, stored in settings
    orchestrator.py   one chat turn's tool work: route, fill the arguments, call, hand the results on
    suite.py          the tool-call accuracy suite (`studio eval tools`) and stored eval runs
    tables.py         this area's tables
The tools themselves (calculator, sandboxed Python, search, HTTP, MCP client) are in engines/tools/.
"""

from __future__ import annotations


def available_tools(studio) -> list[dict]:
    from studio.tools.service import tools_service

    return [{"name": t["name"], "description": t["description"], "kind": t["kind"]}
            for t in tools_service(studio).describe()]
