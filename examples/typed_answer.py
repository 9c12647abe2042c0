"""Typed answers: ask for an answer that fits a pydantic model.

The model is shown the model's JSON Schema. An answer that does not fit is refused
with what failed, and the model tries again within the run's budget. `result.value`
is then an `Incident` instance; `result.answer` is its JSON text.

Run it against any OpenAI-compatible endpoint:

    OPENAI_API_KEY=sk-... RLM_MODEL=gpt-5-mini python examples/typed_answer.py
"""

from pydantic import BaseModel

from rlm import RLM

LOG = """2026-01-01 api ok
2026-01-01 db ERROR disk full
2026-01-02 db ERROR disk full
2026-01-02 api ERROR timeout
2026-01-03 db ERROR disk full
"""


class Incident(BaseModel):
    service: str  # the service with the most errors
    errors: int  # how many ERROR lines it logged
    days: list[str]  # the days it failed, oldest first


rlm = RLM(max_iterations=10)
result = rlm.completion(LOG, "Which service failed most, how often, and on which days?", schema=Incident)
print("status:", result.status)
if result.value is not None:
    incident = result.value  # an Incident, checked
    print("service:", incident.service)
    print("errors:", incident.errors)
    print("days:", ", ".join(incident.days))
else:
    print("no value:", result.value_error)
