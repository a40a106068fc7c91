"""A JSON Schema error in words: ``describe_error`` names the problem in the schema's own terms, never
the instance's (whatever was checked may be a key pasted into the wrong field). Below both ``_spec``
(a form's refusals) and ``_schemas`` (a query's own schemas, a model's answer), which use it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._constants import MAX_LISTED_VALUE_CHARS, MAX_LISTED_VALUES

if TYPE_CHECKING:
    from jsonschema.exceptions import SchemaError, ValidationError

__all__ = ["describe_error"]

_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a JSON array",
    "null": "empty",
}


def _listed(values: Any) -> str:
    """The values a field accepts, the first few of them when there are many (a schema may list 100,000)."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    shown = [_value_text(value) for value in values[:MAX_LISTED_VALUES]]
    rest = len(values) - len(shown)
    return ", ".join(shown) + (f" (and {rest:,} more)" if rest > 0 else "")


def _value_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)[: MAX_LISTED_VALUE_CHARS + 1]
    return text if len(text) <= MAX_LISTED_VALUE_CHARS else text[:MAX_LISTED_VALUE_CHARS] + "..."


def describe_error(error: ValidationError | SchemaError) -> str:
    """The problem in words made only of the schema's own terms (never the instance's)."""
    kw = error.validator
    arg: Any = error.validator_value
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if isinstance(custom, str):  # a rule whose plain reading would mislead ("needs 'content'")
        return custom
    if kw == "type":
        wanted = arg if isinstance(arg, list) else [arg]
        return "must be " + " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in wanted)
    if kw == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        missing = next((str(name) for name in arg if name not in instance), "a field")
        return f"needs '{missing}'"
    if kw == "minLength":
        return "must not be empty" if arg == 1 else f"must be at least {arg} characters"
    if kw == "maxLength":
        return f"must be at most {arg} characters"
    if kw == "pattern":
        return "contains characters that are not allowed here"
    if kw == "enum":
        return "must be one of: " + _listed(arg)
    if kw == "minimum":
        return f"must be at least {arg}"
    if kw == "maximum":
        return f"must be at most {arg}"
    if kw == "exclusiveMinimum":
        return f"must be greater than {arg}"
    if kw == "minItems":
        return f"must have at least {arg} item{'s' if arg != 1 else ''}"
    if kw == "maxItems":
        return f"must have at most {arg} items"
    if kw == "maxProperties":
        return f"must have at most {arg} keys"
    if kw == "propertyNames":
        return "has a key that is empty, too long or has control characters"
    if kw == "not":
        return "is not allowed"
    if kw == "uniqueItems":
        return "must not hold the same item twice"
    if kw in ("oneOf", "anyOf"):
        return "is not in an accepted form"
    return f"is not valid ({kw})"
