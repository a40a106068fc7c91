"""A table run at the highest concurrency, at size: 1,000 rows, 64 at once, every answer back at its
row and no row thread left behind. The table runs at everyday sizes are in tests/unit/test_rows.py."""

from __future__ import annotations

import httpx
import pytest
import respx
from rows_support import PROMPT_PATH, chat_answer, mock, row_threads, table_query, ticket_of
from unit_support import SOURCE

from tooljet_portkey import QueryService

pytestmark = pytest.mark.usefixtures("no_retry_sleep")
__all__ = ["mock"]  # a fixture: pytest offers it to the tests below


def test_a_thousand_rows_at_the_highest_concurrency_come_back_in_order(
    service: QueryService, mock: respx.MockRouter
) -> None:
    route = mock.post(PROMPT_PATH).mock(
        side_effect=lambda request: httpx.Response(200, json=chat_answer(ticket_of(request)))
    )
    result = service.run(
        SOURCE, table_query([{"ticket": str(i)} for i in range(1000)], output="text", concurrency="64")
    )
    assert result["metadata"]["succeeded"] == 1000 and route.call_count == 1000
    assert [(entry["row"], entry["output"]) for entry in result["data"]] == [(i, str(i)) for i in range(1000)]
    assert row_threads() == []
