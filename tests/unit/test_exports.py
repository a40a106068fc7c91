"""The public surface: ``__all__`` sorted and complete, every name resolves, and ``import tooljet_portkey``
stays cheap (no jsonschema, pydantic, CLI or simulator until they are needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tooljet_portkey

PUBLIC_MODULES = ["_client", "_errors", "_models", "_requests", "_service", "_types"]


def test_all_is_sorted_and_unique() -> None:
    assert tooljet_portkey.__all__ == sorted(set(tooljet_portkey.__all__))


@pytest.mark.parametrize("name", tooljet_portkey.__all__)
def test_every_public_name_resolves(name: str) -> None:
    """The package's name is the very object its home module defines."""
    import importlib

    value = getattr(tooljet_portkey, name)
    if name == "__version__":
        assert isinstance(value, str)
        return
    home = importlib.import_module(f"tooljet_portkey.{tooljet_portkey._LOCATIONS[name]}")
    assert getattr(home, name) is value


def test_all_is_complete() -> None:
    """Every public class of the modules behind the package is exported, and nothing more."""
    import importlib

    public: set[str] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(f"tooljet_portkey.{module_name}")
        exported = getattr(module, "__all__", None)
        if exported is not None:
            public.update(exported)
    public |= {"ChatChoice", "ChatCompletion", "ChatMessage", "Completion", "CompletionChoice", "Embedding",
               "EmbeddingList", "Usage", "ConnectionSettings", "Model", "ModelList", "FeedbackResult",
               "RenderedPrompt", "PromptRender", "Image", "ImagesResponse"}  # fmt: skip
    public -= {"HANDLED_FIELDS", "build_request", "connection_headers"}  # request-building internals
    assert set(tooljet_portkey.__all__) - {"__version__"} == public
    assert set(dir(tooljet_portkey)) >= set(tooljet_portkey.__all__)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = tooljet_portkey.Nope  # type: ignore[attr-defined]


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert tooljet_portkey.__version__ == version("tooljet-portkey")


HEAVY = ["jsonschema", "pydantic", "tooljet_portkey.cli", "tooljet_portkey.simulator", "httpx"]


def loaded_after(*codes: str) -> list[dict[str, bool]]:
    """Which of HEAVY each code leaves loaded, each in a fresh interpreter; the interpreters run side by
    side (one after another was most of this file's time)."""
    scripts = [
        f"import sys\n{code}\nimport json\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
        for code in codes
    ]
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for script in scripts
    ]
    outputs = [(run, *run.communicate()) for run in runs]  # every one has ended before any is judged
    found: list[dict[str, bool]] = []
    for run, out, err in outputs:
        if run.returncode:
            raise subprocess.CalledProcessError(run.returncode, run.args, out, err)
        found.append(json.loads(out))
    return found


def test_import_is_cheap() -> None:
    assert loaded_after("import tooljet_portkey") == [dict.fromkeys(HEAVY, False)]


def test_the_service_loads_no_cli_or_simulator_and_validation_loads_jsonschema_only_when_used() -> None:
    imported, plain, refused = loaded_after(
        "from tooljet_portkey import QueryService, QueryError",
        # a required field missing, or plain values (a chat's text, numbers, messages) need no jsonschema
        "from tooljet_portkey import QueryService, QueryError\n"
        "try:\n    QueryService().run({}, {'operation': 'chat'})\nexcept QueryError:\n    pass\n"
        "from tooljet_portkey._options import parse_query\n"
        "parse_query({'operation': 'chat', 'model': 'm', 'prompt': 'hi', 'max_tokens': '5',\n"
        "             'messages': None, 'metadata': '{\"user\": \"u1\"}'})",
        # a refused value is described by jsonschema's error
        "from tooljet_portkey import QueryService, QueryError\n"
        "query = {'operation': 'chat', 'prompt': 'hi', 'model': 'm', 'max_tokens': '0'}\n"
        "try:\n    QueryService().run({'apiKey': 'pk-x'}, query)\n"
        "except QueryError as err:\n    assert err.description == 'max_tokens: must be at least 1', err\n",
    )
    assert imported == {**dict.fromkeys(HEAVY, False), "httpx": True}
    assert plain == {**dict.fromkeys(HEAVY, False), "httpx": True}
    assert refused == {**dict.fromkeys(HEAVY, False), "httpx": True, "jsonschema": True}


# A chat answered on a loopback server, in a fresh interpreter: what a host's first plain query loads
_FIRST_CHAT = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
ANSWER = json.dumps({"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini", "usage":
    {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}, "choices": [{"index": 0,
    "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}).encode()
class Answer(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", 0), Answer)
threading.Thread(target=server.serve_forever, daemon=True).start()
from tooljet_portkey import QueryService
source = {"gatewayUrl": f"http://127.0.0.1:{server.server_port}/v1", "provider": "openai"}
result = QueryService().run(source, {"operation": "chat", "model": "gpt-4o-mini", "prompt": "hi"})
print(json.dumps([result["data"]["choices"][0]["message"]["content"], result["metadata"]["cost"]["total"],
                  sorted(sys.modules)]))
"""
# What only other queries need: batch jobs, table runs, the model dropdown's kinds, the result types
# (for type checkers), schemas beyond plain values, the pydantic models, reading files through
# importlib.resources' readers (zipfile)
NOT_FOR_A_PLAIN_CHAT = [
    "tooljet_portkey._batch_jobs", "tooljet_portkey._run_batch_jobs", "tooljet_portkey._run_rows",
    "tooljet_portkey._batch", "tooljet_portkey._model_kinds", "tooljet_portkey._types",
    "tooljet_portkey._schemas", "tooljet_portkey._models", "tooljet_portkey.cli", "jsonschema", "pydantic",
    "zipfile",
]  # fmt: skip


def test_a_first_plain_chat_loads_only_what_a_chat_needs() -> None:
    """A cold first query is what a host pays at start-up (benchmarks/cold.py): what it does not need
    is loaded by the query that does."""
    run = subprocess.run([sys.executable, "-c", _FIRST_CHAT], capture_output=True, text=True, check=True)
    text, cost, loaded = json.loads(run.stdout)
    assert (text, cost) == ("hi", 0.00000105)  # gpt-4o-mini: 3 x $0.15 + 1 x $0.60 per 1M tokens
    assert [name for name in NOT_FOR_A_PLAIN_CHAT if name in loaded] == []
