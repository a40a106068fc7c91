"""Whatever a host sends, run() answers or raises QueryError (hypothesis, 200 examples): any operation
name, and any of a query's or a connection's fields set to any text, number, list or object a host can
send. A QueryError naming a field means nothing was sent. The cases one by one are in
tests/unit/test_service.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit_support import BASE_URL, CHAT_EXAMPLE, MINIMAL, SOURCE

from tooljet_portkey import QueryError, QueryService

pytestmark = pytest.mark.usefixtures("no_retry_sleep")


host_text = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.sampled_from(["", " ", "0", "-1", "1e999", "NaN", "true", "[", "{}", "[]", '{"a":1}', "[1]", "null"]),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(
        st.text(max_size=5),
        st.one_of(st.text(max_size=5), st.floats(), st.integers(min_value=-(10**5000), max_value=10**5000)),
        max_size=3,
    ),
)


FIELD_KEYS = sorted(
    {"operation", "prompt", "model", "messages", "max_tokens", "temperature", "stop_sequences",
     "stop_sequence", "metadata", "other_parameters", "config", "virtualKey", "stream", "traceId",
     "cacheNamespace", "cacheForceRefresh", "promptId", "variables", "prompt_parameters", "parameters",
     "input"}
)  # fmt: skip


@pytest.fixture(scope="module")
def shared_service() -> Iterator[QueryService]:
    """One service for every example (a new client costs an SSL context); the pool keys by settings."""
    with QueryService() as service:
        yield service


@pytest.fixture
def gateway() -> Iterator[respx.MockRouter]:
    """One mocked gateway for every example of the test below, answering every request; each example
    starts from no calls (starting a mock per example was about a third of that test's time). Function
    scoped, so it is gone before the next test mocks its own."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        mock.route().respond(200, json=CHAT_EXAMPLE)
        yield mock


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    operation=st.sampled_from([*MINIMAL, "other"]),
    overrides=st.dictionaries(st.sampled_from(FIELD_KEYS), host_text, max_size=6),
    source_overrides=st.dictionaries(
        st.sampled_from(
            ["apiKey", "virtualKey", "provider", "providerApiKey", "config", "customHost", "timeout"]
        ),
        host_text,
        max_size=3,
    ),
)
def test_run_answers_or_raises_query_error_whatever_the_input(
    shared_service: QueryService,
    gateway: respx.MockRouter,
    operation: str,
    overrides: dict[str, Any],
    source_overrides: dict[str, Any],
) -> None:
    query = {**MINIMAL.get(operation, {"operation": operation}), **overrides}
    source = {**SOURCE, **source_overrides}
    gateway.reset()  # this example's calls only
    try:
        result = shared_service.run(source, query)
    except QueryError as err:
        assert err.data.get("errorType") != "plugin_error", err.description
        assert isinstance(err.description, str)
        assert gateway.calls.call_count == 0 or "field" not in err.data
    else:
        assert result["status"] == "ok"
        assert gateway.calls.call_count == 1
