"""The bounded body decoder: gzip and deflate inflated step by step, counted, and stopped at the cap."""

from __future__ import annotations

import gzip
import zlib

import pytest

from tooljet_portkey._decoding import BodyDecoder, BodyTooLarge, CorruptBody, UnsupportedEncoding

BODY = b'{"id": "chatcmpl-1", "choices": []}' * 500
MIB = 1024 * 1024

ENCODED = {
    None: BODY,
    "identity": BODY,
    "gzip": gzip.compress(BODY),
    "x-gzip": gzip.compress(BODY),
    "GZIP": gzip.compress(BODY),
    "deflate": zlib.compress(BODY),
    "deflate (raw)": zlib.compress(BODY)[2:-4],
}


def decode(encoding: str | None, raw: bytes, limit: int, step: int) -> bytes:
    decoder = BodyDecoder(encoding, limit)
    out = [piece for start in range(0, len(raw), step) for piece in decoder.decode(raw[start : start + step])]
    return b"".join(out + decoder.flush())


@pytest.mark.parametrize("label", list(ENCODED))
@pytest.mark.parametrize("step", [1, 7, 4096, 10**9])
def test_every_encoding_decodes_in_any_pieces(label: str | None, step: int) -> None:
    encoding = "deflate" if label == "deflate (raw)" else label
    assert decode(encoding, ENCODED[label], 10**6, step) == BODY


def test_a_body_exactly_at_the_cap_passes_and_one_byte_more_does_not() -> None:
    assert decode(None, BODY, len(BODY), 100) == BODY
    assert decode("gzip", ENCODED["gzip"], len(BODY), 100) == BODY
    with pytest.raises(BodyTooLarge) as caught:
        decode(None, BODY, len(BODY) - 1, 100)
    assert caught.value.limit == len(BODY) - 1
    with pytest.raises(BodyTooLarge):
        decode("gzip", ENCODED["gzip"], len(BODY) - 1, 100)


def test_a_bomb_inflates_at_most_one_step_past_the_cap() -> None:
    """64 MiB of zeros in ~64 KB of gzip, fed whole: inflated one MiB at a time, stopped after the cap."""
    decoder = BodyDecoder("gzip", 2 * MIB)
    with pytest.raises(BodyTooLarge):
        decoder.decode(gzip.compress(bytes(64 * MIB)))
    assert -MIB <= decoder._left < 0  # 2 MiB were allowed; the step that crossed it was the last


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, gzip", "gzip, br"])
def test_an_encoding_that_cannot_be_bounded_is_refused(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding) as caught:
        BodyDecoder(encoding, 10)
    assert caught.value.encoding == encoding


@pytest.mark.parametrize(("encoding", "raw"), [("gzip", b"not gzip at all"), ("deflate", b"\xff" * 20)])
def test_a_body_that_does_not_inflate_is_corrupt(encoding: str, raw: bytes) -> None:
    with pytest.raises(CorruptBody):
        decode(encoding, raw, 10**6, 1000)
