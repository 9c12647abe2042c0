"""MCP tools: the tools of an MCP server become functions the model's code can call.

RLM starts the server (examples/mcp_server_demo.py) over stdio for the run, lists its
tools and stops it after. The model calls `stock("pear")` like any function; the call
goes to the server, its arguments checked against the tool's input schema first.
The server runs with your rights, outside the sandbox (but without your API key).

Run it against any OpenAI-compatible endpoint:

    OPENAI_API_KEY=sk-... RLM_MODEL=gpt-5-mini python examples/mcp_tools.py

The same from the command line: rlm query FILE -q "..." --mcp "python examples/mcp_server_demo.py"
"""

import sys
from pathlib import Path

from rlm import RLM

SERVER = [sys.executable, str(Path(__file__).with_name("mcp_server_demo.py"))]  # or one "cmd args" string

ORDER = "2 apple\n5 pear\n10 plum\n"

rlm = RLM(mcp_servers=[SERVER], max_iterations=10)
result = rlm.completion(ORDER, "Which items of this order are out of stock? Use the stock tool.")
print("answer:", result.answer, f"[{result.status}]")
