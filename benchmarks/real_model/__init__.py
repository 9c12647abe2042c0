"""The real-model bench: tasks a small local model can be measured on (tasks.py), their scorer,
and the runner that puts each (task, method) pair through one OpenAI-protocol server (run.py)."""
