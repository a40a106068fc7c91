"""What the table run tests share (tests/unit/test_rows.py and tests/scale/test_row_sizes.py): a saved
prompt's table query as a host sends it, Portkey's answer to one row, and the mocked gateway."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from unit_support import BASE_URL

PROMPT_PATH = "/prompts/pp-triage/completions"


TICKETS = [
    {"ticket": "My card was charged twice"},
    {"ticket": "Where is my parcel?"},
    {"ticket": "I love it"},
]


def table_query(rows: Any = TICKETS, **fields: Any) -> dict[str, Any]:
    """A prompt_completion over ``rows``, as a host sends it (the rows as JSON text)."""
    return {
        "operation": "prompt_completion",
        "promptId": "pp-triage",
        "variables": '{"team": "support"}',
        "rows": rows if isinstance(rows, str) else json.dumps(rows),
        **fields,
    }


def chat_answer(text: str, prompt_tokens: int = 10, completion_tokens: int = 2) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def ticket_of(request: httpx.Request) -> str:
    return str(json.loads(request.content)["variables"]["ticket"])


def row_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tooljet-portkey-row")]


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router
