"""Typed answers: `completion(..., schema=...)` with a pydantic model, a dataclass, any type
pydantic can validate (`list[int]`), or a JSON Schema (a dict). The model is shown the JSON
Schema; its final answer (the text of `FINAL(...)`, or the variable `FINAL_VAR(x)` names: a
dict or list is read from its JSON or its Python repr) is parsed and validated. An answer that
does not fit is refused with what failed, and the model tries again within the run's budget;
`RunResult.value` holds the validated value (a model instance for a pydantic model or a
dataclass, else the parsed JSON) and `RunResult.answer` its JSON text.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from typing import Any

import jsonschema
import referencing
import referencing.exceptions
from pydantic import TypeAdapter, ValidationError

from rlm.errors import ConfigError

SCHEMA_PROMPT_CHARS = 8_000  # of the JSON Schema shown to the model
PROBLEMS_SHOWN = 5
# an answer's text up to this size may be read as a Python literal (a dict or list that
# FINAL_VAR gave as its str()): parsing one takes some hundred bytes of host memory a character
LITERAL_MAX_CHARS = 300_000
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.S)


class AnswerSchema:
    """One schema: what the model is shown, and how an answer's text becomes a checked value."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._adapter: TypeAdapter[Any] | None = None
        self._validator: Any = None
        if isinstance(schema, dict):
            try:
                cls = jsonschema.validators.validator_for(schema)
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ConfigError(f"the schema is not a valid JSON Schema: {exc.message}"[:500]) from None
            self._validator = validator_of(schema, cls)
            self.json_schema: dict[str, Any] = schema
        else:
            try:
                self._adapter = TypeAdapter(schema)
                self.json_schema = self._adapter.json_schema()
            except Exception as exc:  # pydantic's errors for a type it cannot validate take many forms
                raise ConfigError(f"schema must be a pydantic model, a dataclass, a type pydantic can "
                                  f"validate, or a JSON Schema dict; {schema!r} is none ({exc})"[:500]) from None

    @property
    def name(self) -> str:
        return getattr(self.schema, "__name__", None) or str(self.json_schema.get("title") or "the schema")

    def prompt_block(self) -> str:
        """The system prompt's section on the answer's form."""
        text = json.dumps(self.json_schema, ensure_ascii=False, indent=1)
        if len(text) > SCHEMA_PROMPT_CHARS:
            text = json.dumps(self.json_schema, ensure_ascii=False, separators=(",", ":"))[:SCHEMA_PROMPT_CHARS] + " …"
        return ("\n## The answer's form\nThe answer must be JSON that fits this JSON Schema:\n```json\n"
                f"{text}\n```\nBuild it in a variable (a dict or list) and finish with `FINAL_VAR(name)`, or "
                "write it out as `FINAL({...})`. An answer that does not fit is refused with what failed.\n")

    def parse(self, text: str) -> tuple[Any, str | None]:
        """(the validated value, None), or (None, what failed, for the model)."""
        try:
            data = _loads(text)
        except ValueError as exc:
            if self.json_schema.get("type") != "string":
                return None, f"the answer is not JSON ({exc})"
            data = text.strip()  # a schema of one string: the answer's text is the value
        if self._validator is not None:
            try:  # the first few problems are enough to say what failed (all of them may be millions)
                errors = sorted(itertools.islice(self._validator.iter_errors(data), PROBLEMS_SHOWN),
                                key=lambda e: list(e.absolute_path))
            except referencing.exceptions.Unresolvable as exc:
                raise ConfigError(f"the schema refers to what cannot be found ({exc}); remote references "
                                  "are not fetched"[:500]) from None
            except RecursionError:
                return None, "the answer is nested too deeply"
            if errors:
                return None, "; ".join(_where(e.absolute_path) + e.message[:200] for e in errors[:PROBLEMS_SHOWN])
            return data, None
        assert self._adapter is not None
        try:
            return self._adapter.validate_python(data), None
        except RecursionError:
            return None, "the answer is nested too deeply"
        except ValidationError as exc:
            shown = [_where(e.get("loc", ())) + str(e.get("msg", ""))[:200] for e in exc.errors()[:PROBLEMS_SHOWN]]
            return None, "; ".join(shown) or str(exc)[:500]

    def as_json(self, value: Any) -> Any:
        """`value` as plain JSON data (for the answer's text and --json)."""
        if self._adapter is not None:
            return self._adapter.dump_python(value, mode="json")
        return value


def schema_of(schema: Any) -> AnswerSchema | None:
    """The AnswerSchema for `schema` (None: none asked for); ConfigError when it cannot be one."""
    if schema is None or isinstance(schema, AnswerSchema):
        return schema
    if isinstance(schema, (str, bytes)):
        raise ConfigError("schema must be a type or a JSON Schema dict; load a schema file first (json.load)")
    return AnswerSchema(schema)


def _loads(text: str) -> Any:
    """JSON from an answer's text: plain, in a ```json fence, or a Python literal (the str() of
    a dict or list that FINAL_VAR read)."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        first = exc
    except RecursionError:  # model-written text: "[[[[..." deeper than the parser goes
        raise ValueError("it is nested too deeply") from None
    if len(body) > LITERAL_MAX_CHARS:
        raise ValueError(f"{first.msg} at character {first.pos}; an answer of over {LITERAL_MAX_CHARS:,} "
                         "characters must be JSON (json.dumps it)") from None
    try:
        return ast.literal_eval(body)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"{first.msg} at character {first.pos}") from None


def validator_of(schema: Any, cls: Any = None) -> Any:
    """A jsonschema validator of `schema` (its class: `cls`, else the one its `$schema` names) that
    never fetches a remote `$ref`: jsonschema would otherwise open any URL a schema names, with no
    timeout, on the thread that validates (a schema from an MCP server is not the user's own)."""
    cls = cls or jsonschema.validators.validator_for(schema)
    return cls(schema, registry=referencing.Registry())


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return f"at {'.'.join(parts)}: " if parts else ""
