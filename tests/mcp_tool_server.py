"""A small MCP server over stdio for the tests of MCP tools (rlm/mcp_tools.py): a tool with a
typed argument, one whose name is no Python name, one that fails, and one that shows whether
the user's API key reached the server's environment."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("test-tools", log_level="WARNING")


@server.tool()
def word_count(text: str, minimum: int = 0) -> int:
    """Count the words of a text that are at least `minimum` characters long."""
    return sum(1 for w in text.split() if len(w) >= minimum)


@server.tool(name="region-of")
def region_of(city: str) -> dict:
    """The sales region of a city."""
    return {"city": city, "region": {"Lyon": "south", "Lille": "north"}.get(city, "unknown")}


@server.tool()
def refuse(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"refused: {reason}")


@server.tool()
def env_key() -> str:
    """Whether an API key is in this server's environment."""
    return "key present" if os.environ.get("OPENAI_API_KEY") else "no key"


if __name__ == "__main__":
    server.run("stdio")
