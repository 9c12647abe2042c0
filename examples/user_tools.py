"""User tools: give the model's code a typed Python function to call.

`unit_price` looks a fruit up in a small in-memory table. The model sees its signature
and docstring; its code calls it like any function. The call runs here, on the host,
outside the sandbox: arguments are checked against the annotations, the result against
the return type. Each call is a `tool_call` event in the run's trajectory.

Run it against any OpenAI-compatible endpoint:

    OPENAI_API_KEY=sk-... RLM_MODEL=gpt-5-mini python examples/user_tools.py
"""

from rlm import RLM, read_trajectory

PRICES = {"apple": 0.50, "pear": 0.75, "plum": 0.30}  # USD per fruit

ORDERS = """order 1: 4 apple
order 2: 10 plum
order 3: 2 pear
"""


def unit_price(fruit: str) -> float:
    """The price of one fruit in USD. Raises KeyError for a fruit not on the list."""
    return PRICES[fruit.strip().lower()]


rlm = RLM(tools=[unit_price], max_tool_calls=20, tool_timeout_s=5)
result = rlm.completion(ORDERS, "What do all the orders cost together, in USD? Use unit_price.")
print("answer:", result.answer, f"[{result.status}]")

for event in read_trajectory(result.trajectory_path):
    if event["event"] == "tool_call":
        print("tool call:", event["name"], event["arguments"], "->", event["result"] or event["error"])
