"""Helpers of the browser tier: a record of everything a page sent and received, and screenshots into
tests/browser/screenshots/ (ignored by git, kept by CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCREENSHOTS = Path(__file__).resolve().with_name("screenshots")


class PageRecord:
    """Everything a page sent and received: request URLs, responses (bodies read at the end), errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        self.responses: list[Any] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("response", lambda response: self.responses.append(response))
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))

        self._bodies: list[str] = []
        self._read = 0

    def bodies(self) -> list[str]:
        """The body of every response the page received so far (redirects have none). Call it before a
        navigation too: the browser forgets the bodies of the page it leaves."""
        for response in self.responses[self._read :]:
            if not 300 <= response.status < 400:
                self._bodies.append(response.body().decode("utf-8"))
        self._read = len(self.responses)
        return list(self._bodies)


def screenshot(record: PageRecord, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    record.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
