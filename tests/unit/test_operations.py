"""The operation table (_operations.py): the one test that pins the operations and their requests'
methods and paths, and the facts of the table held to operations.json and to the modules that read it.
Other tests read operations and paths from the table instead of restating them."""

from __future__ import annotations

import re

import pytest

from tooljet_portkey._bodies import BUILDERS
from tooljet_portkey._model_kinds import CHAT, COMPLETION, EMBEDDING, IMAGE, OPERATION_KINDS
from tooljet_portkey._operations import OPERATIONS, fill_path, names_where, operation_path
from tooljet_portkey._output import _OPERATION_READERS
from tooljet_portkey._requests import _REQUEST_BUILDERS
from tooljet_portkey._rows import RUN_FIELDS
from tooljet_portkey._spec import load_spec

SPEC = load_spec()


def fields(name: str) -> set[str]:
    return {field.key for field in SPEC.operations[name]}


def test_the_operations_and_their_requests() -> None:
    """The list every other test reads: each operation's first request, and what a batch job sends next."""
    assert {name: (op.method, op.path, op.then) for name, op in OPERATIONS.items()} == {
        "completion": ("POST", "/completions", ()),
        "chat": ("POST", "/chat/completions", ()),
        "prompt_completion": ("POST", "/prompts/{promptId}/completions", ()),
        "create_embedding": ("POST", "/embeddings", ()),
        "image_generation": ("POST", "/images/generations", ()),
        "prompt_render": ("POST", "/prompts/{promptId}/render", ()),
        "list_models": ("GET", "/models", ()),
        "feedback": ("POST", "/feedback", ()),
        "batch_submit": ("POST", "/files", ("/batches",)),
        "batch_status": ("GET", "/batches/{batchId}", ()),
        "batch_results": ("GET", "/batches/{batchId}", ("/files/{id}/content",)),
        "batch_cancel": ("POST", "/batches/{batchId}/cancel", ()),
    }


def test_the_table_is_the_forms_dropdown_in_its_order() -> None:
    assert list(OPERATIONS) == list(SPEC.operation_names)
    assert all(op.name == name for name, op in OPERATIONS.items())


def test_each_operation_has_one_request_builder() -> None:
    assert not set(BUILDERS) & set(_REQUEST_BUILDERS)
    assert set(BUILDERS) | set(_REQUEST_BUILDERS) == set(OPERATIONS)
    assert set(_OPERATION_READERS) <= set(OPERATIONS)


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_each_fact_names_fields_the_operation_has(name: str) -> None:
    op = OPERATIONS[name]
    for placeholder in re.findall(r"\{(\w+)\}", op.path):
        assert placeholder in fields(name), placeholder
    for fact in (op.text_row, op.extra_body):
        assert fact is None or fact in fields(name), fact
    assert RUN_FIELDS.get(name, frozenset()) <= fields(name)
    assert (op.runs is not None) == (name in RUN_FIELDS)
    assert not op.usage_chunk or name in SPEC.streamable
    assert not op.body_metadata or "metadata" in fields(name)
    assert op.model_kinds <= {CHAT, COMPLETION, EMBEDDING, IMAGE}
    assert not op.model_kinds or "model" in fields(name)


def test_what_modules_read_from_the_table() -> None:
    assert names_where(runs="rows") == {"chat", "completion"}
    assert names_where(batch_job=True) == {"batch_submit", "batch_status", "batch_results", "batch_cancel"}
    assert {name for name, op in OPERATIONS.items() if op.billed} == {
        "chat",
        "completion",
        "prompt_completion",
        "create_embedding",
        "image_generation",
    }
    kinds = dict(OPERATION_KINDS)
    assert kinds == {
        "chat": {CHAT},
        "completion": {COMPLETION},
        "create_embedding": {EMBEDDING},
        "image_generation": {IMAGE},
        "batch_submit": {CHAT, COMPLETION, EMBEDDING},
    }


@pytest.mark.parametrize(
    ("name", "values", "safe", "path"),
    [
        ("chat", {"model": "m"}, "", "/chat/completions"),
        ("prompt_completion", {"promptId": "pp-a@12"}, "@", "/prompts/pp-a@12/completions"),
        ("prompt_render", {"promptId": "pp a"}, "@", "/prompts/pp%20a/render"),
        ("batch_cancel", {"batchId": "b/../x?y"}, "", "/batches/b%2F..%2Fx%3Fy/cancel"),
    ],
)
def test_a_path_is_filled_with_each_value_kept_one_segment(
    name: str, values: dict[str, str], safe: str, path: str
) -> None:
    assert operation_path(name, values, safe) == path


def test_a_follow_up_path_is_filled_alike() -> None:
    assert fill_path(OPERATIONS["batch_results"].then[0], {"id": "file/1"}) == "/files/file%2F1/content"
