"""Prompt templates for ``POST /v1/prompts/{id}/completions``: loading and ``{{variable}}`` rendering.

A prompts file is a JSON object from prompt id to either one template (version 1) or
``{"published": N, "versions": {"1": template, ...}}``. A template has a ``model``, either ``messages``
(a chat prompt) or ``prompt`` (a text prompt), and default hyperparameters (``max_tokens``, ...).
``id`` calls the published version (the newest when none is marked), ``id@N`` version N,
``id@latest`` the newest. Missing variables render as empty text, as in Mustache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["PromptBook", "Template", "render"]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(text: str, variables: Mapping[str, Any]) -> str:
    """Replace each ``{{name}}`` with the variable's text (JSON for non-strings, "" when missing)."""
    return _PLACEHOLDER.sub(lambda m: _text(variables[m.group(1)]) if m.group(1) in variables else "", text)


@dataclass(frozen=True)
class Template:
    model: str
    messages: tuple[Mapping[str, Any], ...] | None
    prompt: str | None
    defaults: Mapping[str, Any]

    @classmethod
    def from_json(cls, prompt_id: str, raw: Any) -> Template:
        if not isinstance(raw, dict):
            raise ValueError(f"prompt {prompt_id}: a template must be a JSON object")
        messages, prompt = raw.get("messages"), raw.get("prompt")
        if (messages is None) == (prompt is None):
            raise ValueError(f"prompt {prompt_id}: a template needs either messages or prompt")
        if messages is not None and (
            not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages)
        ):
            raise ValueError(f"prompt {prompt_id}: messages must be a list of objects")
        if prompt is not None and not isinstance(prompt, str):
            raise ValueError(f"prompt {prompt_id}: prompt must be text")
        defaults = {k: v for k, v in raw.items() if k not in ("model", "messages", "prompt")}
        return cls(
            str(raw.get("model", "gpt-4o-mini")), tuple(messages) if messages else None, prompt, defaults
        )

    def rendered(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The request body the template stands for, with variables filled in."""
        body: dict[str, Any] = {"model": self.model, **self.defaults}
        if self.messages is not None:
            body["messages"] = [
                {**m, "content": render(m["content"], variables)}
                if isinstance(m.get("content"), str)
                else dict(m)
                for m in self.messages
            ]
        else:
            body["prompt"] = render(self.prompt or "", variables)
        return body


@dataclass(frozen=True)
class _Prompt:
    versions: Mapping[int, Template]
    published: int


def _parse(doc: Any) -> dict[str, _Prompt]:
    if not isinstance(doc, dict):
        raise ValueError("a prompts file must hold a JSON object of prompt id -> prompt")
    prompts: dict[str, _Prompt] = {}
    for prompt_id, raw in doc.items():
        if isinstance(raw, dict) and "versions" in raw:
            versions_raw = raw["versions"]
            if not isinstance(versions_raw, dict) or not versions_raw:
                raise ValueError(f"prompt {prompt_id}: versions must be a non-empty object")
            try:
                versions = {int(n): Template.from_json(prompt_id, t) for n, t in versions_raw.items()}
            except (TypeError, ValueError) as err:
                raise ValueError(
                    str(err)
                    if "prompt " in str(err)
                    else f"prompt {prompt_id}: versions are numbered 1, 2, ..."
                ) from None
            published = raw.get("published", max(versions))
            if published not in versions:
                raise ValueError(
                    f"prompt {prompt_id}: published version {published} is not among its versions"
                )
        else:
            versions = {1: Template.from_json(prompt_id, raw)}
            published = 1
        prompts[prompt_id] = _Prompt(versions, published)
    return prompts


class PromptBook:
    """The prompts a simulator serves: the built-in demo prompts, overlaid by a file or a dict."""

    def __init__(self, source: str | Path | Mapping[str, Any] | None = None) -> None:
        demo = resources.files(__package__).joinpath("demo_prompts.json").read_text(encoding="utf-8")
        self._prompts = _parse(json.loads(demo))
        if source is None:
            return
        if isinstance(source, Mapping):
            doc: Any = dict(source)
        else:
            try:
                doc = json.loads(Path(source).read_text(encoding="utf-8"))
            except OSError as err:
                raise ValueError(f"cannot read prompts file {source}: {err.strerror}") from None
            except ValueError as err:
                raise ValueError(f"prompts file {source} is not valid JSON: {err}") from None
        self._prompts.update(_parse(doc))

    def ids(self) -> list[str]:
        return sorted(self._prompts)

    def find(self, reference: str) -> Template | None:
        """``id``, ``id@N`` or ``id@latest`` -> the template, or None."""
        prompt_id, _, version = reference.partition("@")
        prompt = self._prompts.get(prompt_id)
        if prompt is None:
            return None
        if not version:
            return prompt.versions[prompt.published]
        if version == "latest":
            return prompt.versions[max(prompt.versions)]
        if version.isdigit():
            return prompt.versions.get(int(version))
        return None
