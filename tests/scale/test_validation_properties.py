"""Properties of validation over generated values (hypothesis, hundreds of examples each): our schema
keywords decide every field as jsonschema's do, and the size the one walk over a value gives is never
more than its JSON's. The example-based checks of the same code are in
tests/unit/test_validation_limits.py."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tooljet_portkey._plain_schemas import plain_verdict
from tooljet_portkey._spec import CONNECTION_FORM, form_schema, form_validator, load_spec
from tooljet_portkey._values import json_problem


# Every field's compiled schema, stock jsonschema beside ours
def field_schemas() -> list[tuple[str, str]]:
    fields = [(CONNECTION_FORM, f.key) for f in load_spec().connection]
    fields += [(op, f.key) for op, spec_fields in load_spec().operations.items() for f in spec_fields]
    return fields


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3000)
    | st.floats(-1, 3, allow_nan=False)
    | st.sampled_from(["", "user", "openai", "x" * 300, "a\nb", "fallback", "simple", "pc-1", "."]),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(["role", "content", "retry", "attempts", "targets", "mode", "k", "strategy"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


FIELD = st.sampled_from(field_schemas())


@settings(max_examples=600, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=FIELD, value=JSON_VALUES)
def test_our_keywords_decide_as_jsonschema_does(field: tuple[str, str], value: Any) -> None:
    """Same verdict, and the same first error (keyword and place), as stock jsonschema's keywords."""
    form, key = field
    ours = form_validator(form)
    stock = Draft202012Validator(ours.schema, registry=ours._registry)  # type: ignore[attr-defined]
    instance = {key: value}
    first_ours = next(ours.iter_errors(instance), None)
    first_stock = next(stock.iter_errors(instance), None)
    assert (first_ours is None) == (first_stock is None)
    # the plain check, which spares a plain query jsonschema, agrees whenever it decides
    assert plain_verdict(form_schema(form), instance) in (first_stock is None, None)
    if first_ours is not None and first_stock is not None:
        assert (first_ours.validator, list(first_ours.absolute_path)) == (
            first_stock.validator,
            list(first_stock.absolute_path),
        )
        # the keyword's name, or (required) the schema's name for what is missing: never the value
        assert first_ours.message == first_ours.validator or first_ours.validator == "required"


@settings(max_examples=300, derandomize=True, database=None)
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=12) | st.dictionaries(st.text(), inner, max_size=5),
        max_leaves=40,
    )
)
def test_the_size_json_problem_gives_is_a_lower_bound(value: Any) -> None:
    """The header size check refuses on this bound without encoding: it must never exceed the truth."""
    problem, size = json_problem(value)
    if problem is None:
        assert size <= len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
