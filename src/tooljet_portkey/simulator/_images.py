"""``POST /v1/images/generations``: requests checked as OpenAI checks them, answered with small PNG images
made here with the standard library (zlib and struct), the same request always getting the same images.

An image's name, ``<24 hex>-<W>x<H>.png``, holds all it is made from: the hex is drawn from a hash of
(model, prompt, size, index), the picture is a 4 by 4 grid of colours drawn from a hash of the name, at
1/64 of the requested size (16 by 16 pixels for 1024x1024). So a ``url`` answer points at the simulator
itself (``GET /_simulator/images/<name>``, no key needed, as a provider's signed URL), which makes the
image again from its name, and a ``b64_json`` answer holds the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._answers import count_tokens, model_name
from ._rules import SimError

__all__ = [
    "IMAGES_PREFIX",
    "IMAGE_MODELS",
    "ImageModel",
    "image_name",
    "images_response",
    "png_image",
    "png_of_name",
]

IMAGES_PREFIX = "/_simulator/images/"
DEFAULT_IMAGE_MODEL = "dall-e-2"
PIXELS_PER_PIXEL = 64  # an image is 1/64 of its requested size, each way
GRID = 4
MAX_SIDE = 4096
# gpt-image-1 counts tokens: what a 1024x1024 image of low quality costs
IMAGE_OUTPUT_TOKENS = 272

_NAME = re.compile(r"([0-9a-f]{24})-([0-9]{1,4})x([0-9]{1,4})\.png")


@dataclass(frozen=True)
class ImageModel:
    """What one image model takes, as OpenAI documents it."""

    sizes: tuple[str, ...]
    max_n: int
    qualities: tuple[str, ...]
    styles: tuple[str, ...] = ()
    formats: tuple[str, ...] = ("url", "b64_json")
    revises_prompt: bool = False
    counts_tokens: bool = False


IMAGE_MODELS = {
    "dall-e-2": ImageModel(("256x256", "512x512", "1024x1024"), 10, ("standard",)),
    "dall-e-3": ImageModel(
        ("1024x1024", "1792x1024", "1024x1792"), 1, ("standard", "hd"), ("vivid", "natural"),
        revises_prompt=True,
    ),
    "gpt-image-1": ImageModel(
        ("1024x1024", "1536x1024", "1024x1536", "auto"), 10, ("low", "medium", "high", "auto"),
        formats=("b64_json",), counts_tokens=True,
    ),
}  # fmt: skip


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_image(width: int, height: int, seed: bytes) -> bytes:
    """A valid 8-bit RGB PNG of ``width`` by ``height`` pixels: a 4 by 4 grid of colours from ``seed``."""
    palette = [seed[i : i + 3] for i in range(0, 3 * GRID * GRID, 3)]
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        band = (y * GRID // height) * GRID
        for x in range(width):
            rows += palette[band + x * GRID // width]
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _chunk(b"IEND", b"")
    )


def _seed(name_hex: str) -> bytes:
    """48 bytes of colour for an image name (a SHA-512 digest: 16 colours of 3 bytes)."""
    return hashlib.sha512(name_hex.encode("ascii")).digest()


def image_name(model: str, prompt: str, size: str, index: int) -> str:
    """The name of a request's ``index``-th image."""
    blob = json.dumps([model, prompt, size, index], ensure_ascii=True).encode("ascii")
    width, height = _dimensions(size)
    return f"{hashlib.sha256(blob).hexdigest()[:24]}-{width}x{height}.png"


def png_of_name(name: str) -> bytes | None:
    """The image a name stands for, or None when it is not a name this simulator gives."""
    found = _NAME.fullmatch(name)
    if found is None:
        return None
    width, height = int(found.group(2)), int(found.group(3))
    if not (PIXELS_PER_PIXEL <= width <= MAX_SIDE and PIXELS_PER_PIXEL <= height <= MAX_SIDE):
        return None
    return png_image(width // PIXELS_PER_PIXEL, height // PIXELS_PER_PIXEL, _seed(found.group(1)))


def _dimensions(size: str) -> tuple[int, int]:
    """``1792x1024`` -> (1792, 1024); ``auto`` is 1024x1024."""
    if size == "auto":
        return 1024, 1024
    width, _, height = size.partition("x")
    return int(width), int(height)


Bad = Callable[[str, str], SimError]


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(
    body: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str, bad: Bad, model: str
) -> str:
    value = body.get(key, default)
    if value not in allowed:
        raise bad(f"Invalid '{key}': {model} takes {_listed(allowed)} (simulated).", key)
    return str(value)


def _listed(values: tuple[str, ...]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def images_response(
    body: Mapping[str, Any], base_url: str, bad: Bad, image_models: Sequence[str] = tuple(IMAGE_MODELS)
) -> dict[str, Any]:
    """The answer to an images request (``bad(message, param)`` makes the 400 of a broken rule):
    ``{"created", "data": [{"url"} or {"b64_json"}, ...]}``, with dall-e-3's ``revised_prompt`` and
    gpt-image-1's token ``usage``. ``image_models``: the models that make images; one without rules
    of its own here takes dall-e-2's."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad("'prompt' must be a non-empty string (simulated).", "prompt")
    model = body.get("model", DEFAULT_IMAGE_MODEL)
    if not isinstance(model, str) or model_name(model) not in image_models:
        shown = model if isinstance(model, str) else "that model"
        raise bad(f"Invalid 'model': {shown} does not make images; the simulator's image models are "
                  f"{_listed(tuple(image_models))} (simulated).", "model")  # fmt: skip
    name = model_name(model)
    rules = IMAGE_MODELS.get(name, IMAGE_MODELS[DEFAULT_IMAGE_MODEL])
    n = body.get("n", 1)
    if not _integer(n) or not 1 <= n <= 10:
        raise bad(f"Invalid 'n': expected an integer from 1 to 10, got {n!r} (simulated).", "n")
    if n > rules.max_n:
        raise bad(f"Invalid 'n': {name} makes at most {rules.max_n} image per request (simulated).", "n")
    size = _choice(body, "size", rules.sizes, "1024x1024", bad, name)
    _choice(body, "quality", rules.qualities, rules.qualities[0], bad, name)
    if "style" in body:
        if not rules.styles:
            raise bad(f"Invalid 'style': {name} takes no style; dall-e-3 does (simulated).", "style")
        _choice(body, "style", rules.styles, rules.styles[0], bad, name)
    form = _choice(body, "response_format", rules.formats, rules.formats[0], bad, name)
    if body.get("output_format", "png") != "png":
        raise bad(
            "Invalid 'output_format': the simulator makes png images only (simulated).", "output_format"
        )
    data = []
    for index in range(n):
        image = image_name(name, prompt, size, index)
        item: dict[str, Any] = (
            {"url": f"{base_url}{IMAGES_PREFIX}{image}"}
            if form == "url"
            else {"b64_json": base64.b64encode(png_of_name(image) or b"").decode("ascii")}
        )
        if rules.revises_prompt:
            item["revised_prompt"] = f"A simulated image of: {prompt}"
        data.append(item)
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if rules.counts_tokens:
        text = count_tokens(prompt)
        output = IMAGE_OUTPUT_TOKENS * n
        answer["usage"] = {
            "input_tokens": text,
            "output_tokens": output,
            "total_tokens": text + output,
            "input_tokens_details": {"text_tokens": text, "image_tokens": 0},
        }
    return answer
