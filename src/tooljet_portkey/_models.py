"""Typed views of Portkey's responses. Unknown fields are kept (``extra="allow"``), so nothing a
provider adds is lost; the service hands hosts the JSON itself and never needs these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Usage(_Model):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class CompletionChoice(_Model):
    index: int = 0
    text: str = ""
    logprobs: Any = None
    finish_reason: str | None = None


class Completion(_Model):
    id: str | None = None
    object: Literal["text_completion"] = "text_completion"
    created: int | None = None
    model: str | None = None
    choices: list[CompletionChoice] = []
    usage: Usage | None = None

    @property
    def text(self) -> str:
        """The first choice's text."""
        return self.choices[0].text if self.choices else ""


class ChatMessage(_Model):
    role: str = "assistant"
    content: str | list[Any] | None = None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChoice(_Model):
    index: int = 0
    message: ChatMessage = ChatMessage()
    logprobs: Any = None
    finish_reason: str | None = None


class ChatCompletion(_Model):
    id: str | None = None
    object: Literal["chat.completion"] = "chat.completion"
    created: int | None = None
    model: str | None = None
    choices: list[ChatChoice] = []
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def text(self) -> str:
        """The first choice's message content, when it is text."""
        content = self.choices[0].message.content if self.choices else None
        return content if isinstance(content, str) else ""


class Embedding(_Model):
    object: Literal["embedding"] = "embedding"
    index: int = 0
    embedding: list[float] | str = []


class EmbeddingList(_Model):
    object: Literal["list"] = "list"
    data: list[Embedding] = []
    model: str | None = None
    usage: Usage | None = None


def prompt_completion_model(data: Any) -> ChatCompletion | Completion:
    """A prompt renders to a chat or a text completion; the ``object`` field says which."""
    if isinstance(data, dict) and data.get("object") == "text_completion":
        return Completion.model_validate(data)
    return ChatCompletion.model_validate(data)


class Model(_Model):
    """One model of ``GET /models``; Portkey's hosted list adds ``slug`` and ``canonical_slug``."""

    id: str | None = None
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None


class ModelList(_Model):
    object: str = "list"
    data: list[Model] = []

    @property
    def ids(self) -> list[str]:
        """The model ids, in Portkey's order."""
        return [model.id for model in self.data if model.id is not None]


class FeedbackResult(_Model):
    """The answer of ``POST /feedback``: the new feedback's ids, in the order sent."""

    status: str | None = None
    message: str | None = None
    feedback_ids: list[str] = []


class RenderedPrompt(_Model):
    """The request body a saved prompt renders to: its model and hyperparameters, and either the
    ``messages`` of a chat template or the ``prompt`` of a text template."""

    model: str | None = None
    messages: list[dict[str, Any]] | None = None
    prompt: str | list[Any] | None = None


class PromptRender(_Model):
    success: bool = True
    data: RenderedPrompt = RenderedPrompt()


class Image(_Model):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(_Model):
    created: int | None = None
    data: list[Image] = []
    usage: dict[str, Any] | None = None  # gpt-image-1 counts tokens in a shape of its own

    @property
    def urls(self) -> list[str]:
        """Each image's URL; a base64 image as a ``data:`` URI (what output ``images`` gives, with the
        same refusals: a URL that is not http(s), an empty image)."""
        from ._output import image_source

        return [image_source(image.url, image.b64_json) for image in self.data]
