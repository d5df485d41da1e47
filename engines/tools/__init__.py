"""Tools: what a chat turn can call, how a query is routed to one, and how arguments are filled.

    from engines.tools.registry import builtin_tools, run_tool
    tools = builtin_tools(kb_path)                      # calculator, python, search
    run_tool(tools["calculator"], {"expression": "17.5% of 2,340"})

What is where:
    registry.py         a Tool (name, description, JSON schema, runner) and the built-in set
    calculator.py, sandbox.py (+ sandbox_child.py), search.py, http_tool.py, mcp_client.py
                        the tools: exact arithmetic, sandboxed Python, the knowledge base, user HTTP
                        tools, MCP servers
    intent.py           the intent classifier that picks a tool (or none) for a query
    extract.py, function_call.py   arguments from the query, or from a grammar-constrained call
    schema.py           the JSON-schema subset that checks arguments
The studio side (which tools a user added, the decision log, a chat turn's tool work) is in
studio/tools/.
"""
