"""Tool use in the studio: the service (studio.tools.service), the chat orchestrator
(studio.tools.orchestrator) and the accuracy suite runner (studio.tools.suite).

The chat area needs two entry points:

    available_tools(studio) -> [{"name", "description", "kind"}]      # the per-conversation toggle
    run_tools_for_turn(studio, query, enabled_tools, generate)        # studio.tools.orchestrator
"""

from __future__ import annotations


def available_tools(studio) -> list[dict]:
    from studio.tools.service import tools_service

    return [{"name": t["name"], "description": t["description"], "kind": t["kind"]}
            for t in tools_service(studio).describe()]
