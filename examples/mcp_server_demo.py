"""A tiny MCP server for examples/mcp_tools.py: one tool, `stock`, over stdio.

Any MCP server works the same way; this one needs nothing but the `mcp` package.
Try it alone with: python examples/mcp_server_demo.py  (it waits for a client on stdin)
"""

from mcp.server.mcpserver import MCPServer

STOCK = {"apple": 12, "pear": 0, "plum": 40}

server = MCPServer("demo-stock", log_level="WARNING")


@server.tool()
def stock(item: str) -> int:
    """How many of an item are in stock (0 for an unknown item)."""
    return STOCK.get(item.strip().lower(), 0)


if __name__ == "__main__":
    server.run("stdio")
