"""What the code knows of each operation, declared once: its request's method and path, how run() sends
it (once, once per row, in chunks of inputs, as a batch job), what its model dropdown offers, how its
answer is billed and read. Every module reads this table instead of naming operations; operations.json
holds each operation's form fields, and a test holds the two to each other (the same operations, in
the dropdown's order). Pure data: it imports nothing of the package, so any module may read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

__all__ = ["OPERATIONS", "Operation", "fill_path", "names_where", "operation", "operation_path"]

Runs = Literal["rows", "variables", "chunks"]
Billed = Literal["tokens", "images"]


@dataclass(frozen=True)
class Operation:
    """One operation, as every module sees it."""

    name: str
    #: the first (for most, the only) request: method and path below the gateway's ``/v1``; a
    #: ``{field}`` is that query field's value, quoted (``operation_path``)
    method: str
    path: str
    #: the paths of the requests a batch job makes after its first (``{id}``: an id an answer gave)
    then: tuple[str, ...] = ()
    #: a query of several requests (run()'s RunShape): ``rows`` of the operation's own fields (chat,
    #: completion), ``rows`` of variables (prompt completion), or its ``input`` cut into chunks
    runs: Runs | None = None
    #: the field a row given as plain text fills (a table run's or a batch line's)
    text_row: str | None = None
    #: the model kinds its model dropdown offers (_model_kinds.py); empty: every model
    model_kinds: frozenset[str] = frozenset()
    #: how its answer is billed, and so priced in ``metadata.cost`` (_cost.py); None: it is not
    billed: Billed | None = None
    #: the field whose JSON object is laid over the body (a client keyword not of the form goes there)
    extra_body: str | None = None
    #: a stream asks for the final usage chunk (``stream_options.include_usage``: OpenAI's shape)
    usage_chunk: bool = False
    #: Portkey wraps the answer (``{"status", "data": <the answer>}``): the client unwraps it
    wrapped: bool = False
    #: its answer is the model list, with each model's prices added in ``output: full``
    model_list: bool = False
    #: its ``metadata`` field travels in the body (Portkey's feedback API), not as a header
    body_metadata: bool = False
    #: a batch job's step (_batch_jobs.py): its requests follow a plan, not one request and its answer
    batch_job: bool = False


_BATCH = "/batches/{batchId}"
OPERATIONS: Mapping[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "completion", "POST", "/completions", runs="rows", text_row="prompt",
            model_kinds=frozenset({"completion"}), billed="tokens", extra_body="other_parameters",
            usage_chunk=True,
        ),
        Operation(
            "chat", "POST", "/chat/completions", runs="rows", text_row="prompt",
            model_kinds=frozenset({"chat"}), billed="tokens", extra_body="other_parameters",
            usage_chunk=True,
        ),
        Operation(
            "prompt_completion", "POST", "/prompts/{promptId}/completions", runs="variables",
            billed="tokens", extra_body="prompt_parameters", wrapped=True,
        ),
        Operation(
            "create_embedding", "POST", "/embeddings", runs="chunks", text_row="input",
            model_kinds=frozenset({"embedding"}), billed="tokens", extra_body="other_parameters",
        ),
        Operation(
            "image_generation", "POST", "/images/generations", model_kinds=frozenset({"image"}),
            billed="images", extra_body="other_parameters",
        ),
        Operation("prompt_render", "POST", "/prompts/{promptId}/render", extra_body="prompt_parameters"),
        Operation("list_models", "GET", "/models", model_list=True),
        Operation("feedback", "POST", "/feedback", body_metadata=True),
        Operation(
            "batch_submit", "POST", "/files", then=("/batches",),
            model_kinds=frozenset({"chat", "completion", "embedding"}), batch_job=True,
        ),
        Operation("batch_status", "GET", _BATCH, batch_job=True),
        Operation(
            "batch_results", "GET", _BATCH, then=("/files/{id}/content",), batch_job=True,
        ),
        Operation("batch_cancel", "POST", _BATCH + "/cancel", batch_job=True),
    )
}  # fmt: skip


# What a request built by hand (``PortkeyClient.send`` of a ``PortkeyRequest`` naming no operation)
# is: one request, its answer read as it comes, billed by nothing the plugin knows
_BY_HAND = Operation("", "POST", "")


def operation(name: str) -> Operation:
    """The operation of that name; for a name the table does not hold (a request built by hand), one
    with no facts: sent once, its answer neither unwrapped nor priced."""
    return OPERATIONS.get(name, _BY_HAND)


def names_where(**facts: object) -> frozenset[str]:
    """The operations with every one of these facts: ``names_where(runs="rows")``."""
    return frozenset(
        op.name
        for op in OPERATIONS.values()
        if all(getattr(op, key) == value for key, value in facts.items())
    )


def operation_path(name: str, values: Mapping[str, Any], safe: str = "") -> str:
    """The operation's path with each ``{field}`` filled in from ``values`` (the query's fields), quoted
    so that a value stays one path segment (``safe``: characters kept as they are, e.g. a prompt id's
    ``@`` version)."""
    return fill_path(OPERATIONS[name].path, values, safe)


def fill_path(template: str, values: Mapping[str, Any], safe: str = "") -> str:
    """A path template (``/batches/{batchId}``) with each ``{name}`` replaced by its quoted value."""
    return _PLACEHOLDER.sub(lambda found: quote(str(values[found.group(1)]), safe=safe), template)


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
