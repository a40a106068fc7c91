"""Helpers of the playground's server tests: the keys they type, and an HTTP client that records every
response body it reads and parses server-sent events."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tooljet_portkey.playground import Playground

SECRET = "pk-live-SECRET-4f9a0c"
VIRTUAL_SECRET = "vk-secret-77e1b2"
CONFIG_SECRET = "sk-config-SECRET-93d1"
CHAT_MESSAGES = '[{"role": "user", "content": "Hello"}]'


class Recorder:
    """An httpx client on the playground's URL that keeps every response body it reads."""

    def __init__(self, playground: Playground) -> None:
        self.playground = playground
        self.client = httpx.Client(base_url=playground.url, timeout=30)
        self.bodies: list[str] = []

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.get(path, **kwargs)
        self.bodies.append(response.text)
        return response

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        response = self.client.post(path, json=body, **kwargs)
        self.bodies.append(response.text)
        return response

    def events(self, path: str, body: Any) -> list[tuple[str, dict[str, Any]]]:
        """A streamed answer's server-sent events, in order."""
        with self.client.stream("POST", path, json=body) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            text = response.read().decode("utf-8")
        self.bodies.append(text)
        return parse_events(text)

    def close(self) -> None:
        self.client.close()


def parse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: "), block
        events.append((name_line[len("event: ") :], json.loads(data_line[len("data: ") :])))
    return events
