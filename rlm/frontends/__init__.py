"""The ways people reach the engine, apart from it: the terminal display (`display`), the MCP
server (`mcp_server`), the self-contained HTML run view (`viewer`, with `templates/`) and the
export in the official RLM visualizer's format (`export`). They read runs and drive `rlm.RLM`;
nothing of the engine (the turn loop, the broker, notes, the sandbox) imports them."""
