"""A suite-wide secret audit.

Every secret any test hands the plugin (each ConnectionSettings' API key, virtual key, provider key and
config credentials, and each Query's own virtual key and config credentials) is remembered, and so is
every QueryError text and every log record, at DEBUG and from every logger (httpx and httpcore
included), that the whole run produces. When the run ends, none of those texts may contain any of
those secrets; the run fails and names the leak otherwise. The per-path tests in test_secrets.py say
where a leak would be; this says that the suite as a whole saw none, wherever it came from.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tooljet_portkey import _errors, _options, _secrets, _settings

_secrets_seen: set[str] = set()
_public: set[str] = set()  # text a test also used as an ordinary value (a model name, a trace id)
_texts: list[tuple[str, str]] = []  # (where, text)
# Only values shaped like keys are audited: tests also pass ordinary words ("openai") and URLs as keys,
# and those occur in error texts for reasons of their own.
_KEY_SHAPE = re.compile(r"(?=.*[-0-9])[A-Za-z0-9_.-]{8,}")


class _Recorder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        # a record whose arguments do not format is not ours to judge
        with contextlib.suppress(Exception):
            _texts.append((f"log {record.name}", record.getMessage()))


@pytest.fixture(autouse=True, scope="session")
def _secret_audit() -> Iterator[None]:
    settings_init = _settings.ConnectionSettings.__init__
    query_init = _options.Query.__init__
    error_init = _errors.QueryError.__init__

    def remember_secrets(self: _settings.ConnectionSettings, *args: Any, **kwargs: Any) -> None:
        settings_init(self, *args, **kwargs)
        _secrets_seen.update(s for s in self.secrets if _KEY_SHAPE.fullmatch(s))
        # what the connection sends that is not a secret (a provider slug, a saved config id) is public
        config_id = self.config if self.config and not self.config.startswith("{") else None
        _public.update(v for v in (self.provider, self.custom_host, self.base_url, config_id) if v)

    def remember_public(self: _options.Query, *args: Any, **kwargs: Any) -> None:
        query_init(self, *args, **kwargs)
        _public.update(v for k, v in self.params.items() if isinstance(v, str) and k != "virtualKey")
        own = [self.params.get("virtualKey"), *_secrets.config_secrets(self.params.get("config"))]
        _secrets_seen.update(s for s in own if isinstance(s, str) and _KEY_SHAPE.fullmatch(s))

    def remember_error(self: _errors.QueryError, *args: Any, **kwargs: Any) -> None:
        error_init(self, *args, **kwargs)
        where = "refusal" if "field" in self.data else "QueryError"
        _texts.append((where, f"{self!s} {self.data!r}"))

    recorder = _Recorder(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    _settings.ConnectionSettings.__init__ = remember_secrets  # type: ignore[method-assign]
    _options.Query.__init__ = remember_public  # type: ignore[method-assign]
    _errors.QueryError.__init__ = remember_error  # type: ignore[method-assign]
    try:
        yield
    finally:
        _settings.ConnectionSettings.__init__ = settings_init  # type: ignore[method-assign]
        _options.Query.__init__ = query_init  # type: ignore[method-assign]
        _errors.QueryError.__init__ = error_init  # type: ignore[method-assign]
        root.removeHandler(recorder)
        root.setLevel(old_level)


# The collector's youngest generation runs every 700 new containers by default: the suite builds millions
# (50,000-row batches, thousands of hypothesis examples), and each run of it promotes whatever a test
# still holds, which the older generations then walk again and again (about a second of the unit tier).
# Collected every 10,000, most of a test's objects are gone before the collector looks; nothing is kept
# longer than a test keeps it.
gc.set_threshold(10_000, *gc.get_threshold()[1:])


def pytest_collection_finish(session: pytest.Session) -> None:
    # What collection built (every module, the test data, hypothesis's and pytest's own tables) lives to
    # the end of the run: frozen, the collector stops walking it on every full collection the tests'
    # own garbage triggers (those walks were about a tenth of the unit tier's time). Objects the tests
    # create are collected as before.
    gc.collect()
    gc.freeze()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A value a test also sent as, say, a model name may rightly appear in an error Portkey sent back:
    # not a leak. A refusal quotes nothing the user typed, so no secret may appear in one, public or not.
    secrets = _secrets_seen - _public
    leaks = [
        (secret, where, text)
        for where, text in _texts
        for secret in (_secrets_seen if where == "refusal" else secrets)
        if secret in text
    ]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if leaks:
        if reporter is not None:
            reporter.write_line(f"secret audit: {len(leaks)} error or log texts hold a secret:", red=True)
            for secret, where, text in leaks[:20]:
                reporter.write_line(f"  {secret!r} in {where}: {text[:300]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None and _texts:
        refusals = sum(where == "refusal" for where, _ in _texts)
        reporter.write_line(
            f"secret audit: {len(_texts)} error and log texts ({refusals} refusals checked against all "
            f"{len(_secrets_seen)} secrets), {len(secrets)} secrets not also public values, no leak"
        )
