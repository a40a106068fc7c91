"""The SSE decoder: bytes as the network delivers them -> the events Portkey meant."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tooljet_portkey._sse import EventTooLarge, ServerSentEvent, SSEDecoder


def decode_all(pieces: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events.extend(decoder.decode(piece))
    events.extend(decoder.end())
    return events


E = ServerSentEvent

CASES = [
    ("one event, LF", [b'data: {"a":1}\n\n'], [E('{"a":1}')]),
    ("CRLF line ends", [b"data: one\r\n\r\ndata: two\r\n\r\n"], [E("one"), E("two")]),
    ("CR line ends", [b"data: one\r\rdata: two\r\r"], [E("one"), E("two")]),
    ("multi-line data joins with LF", [b"data: first\ndata: second\ndata:\n\n"], [E("first\nsecond\n")]),
    ("comments are ignored", [b": keep-alive\n\n:ping\ndata: x\n\n"], [E("x")]),
    ("no space after colon", [b"data:x\n\n"], [E("x")]),
    ("only one leading space dropped", [b"data:  x\n\n"], [E(" x")]),
    ("field without colon is an empty value", [b"data\n\n"], [E("")]),
    ("event and id fields", [b"event: error\nid: 7\ndata: boom\n\n"], [E("boom", "error", "7")]),
    (
        "event name resets, id persists",
        [b"event: a\nid: 1\ndata: x\n\ndata: y\n\n"],
        [E("x", "a", "1"), E("y", "message", "1")],
    ),
    ("id with NUL is ignored", [b"id: a\x00b\ndata: x\n\n"], [E("x")]),
    ("unknown fields and retry ignored", [b"retry: 10\nfoo: bar\ndata: x\n\n"], [E("x")]),
    ("blank lines without data dispatch nothing", [b"\n\n\nevent: e\n\ndata: x\n\n"], [E("x")]),
    ("missing final blank line", [b"data: one\n\ndata: [DONE]"], [E("one"), E("[DONE]")]),
    ("missing final line end", [b"data: last\n"], [E("last")]),
    ("byte-order mark at the start", [b"\xef\xbb\xbfdata: x\n\n"], [E("x")]),
    ("event split across pieces", [b"da", b'ta: {"a"', b":1}\n", b"\n"], [E('{"a":1}')]),
    ("CRLF split between pieces", [b"data: x\r", b"\n\r", b"\n"], [E("x")]),
    ("CR at piece end then data", [b"data: x\r", b"\rdata: y\r\r"], [E("x"), E("y")]),
    ("empty pieces", [b"", b"data: x\n", b"", b"\n"], [E("x")]),
    (
        "U+2028, U+2029 and U+0085 stay inside the data",
        ['data: {"t":"a\u2028b\u2029c\x85d"}\n\n'.encode()],
        [E('{"t":"a\u2028b\u2029c\x85d"}')],
    ),
    ("multi-byte character split across pieces", [b"data: \xc3", b"\xa9\n\n"], [E("\u00e9")]),
    ("invalid UTF-8 is replaced, not fatal", [b"data: \xff\n\n"], [E("\ufffd")]),
]


@pytest.mark.parametrize(("pieces", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decode(pieces: list[bytes], expected: list[ServerSentEvent]) -> None:
    assert decode_all(pieces) == expected


STREAM = (
    b': hello\r\n{"not": "a field"}\r\n\r\n'
    b'data: {"choices":[{"delta":{"content":"Hi"}}]}\r\n\r\n'
    b"event: error\ndata: line one\ndata: line two\n\n"
    b'data: {"t":"\xe2\x80\xa8"}\r\r'
    b"data: [DONE]\n\n"
)
STREAM_EVENTS = [
    E('{"choices":[{"delta":{"content":"Hi"}}]}'),
    E("line one\nline two", "error"),
    E('{"t":"\u2028"}'),
    E("[DONE]"),
]


def test_every_two_piece_split_gives_the_same_events() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode_all([STREAM[:cut], STREAM[cut:]]) == STREAM_EVENTS, cut


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    pieces = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert decode_all(pieces) == STREAM_EVENTS


def test_feed_takes_lines() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: a") is None
    assert decoder.feed("data: b") is None
    assert decoder.feed("") == E("a\nb")
    assert decoder.flush() is None


# -- long lines: linear, and capped -------------------------------------------------------------------

MIB = 1024 * 1024


def test_a_long_line_in_many_pieces_is_joined_once() -> None:
    """16 MiB of one line in 1,024 pieces: the pieces are kept as they came (none copied into a
    growing buffer, which made this quadratic) and joined when the line ends."""
    piece = b"x" * (16 * 1024)
    pieces = [b"data: " + piece] + [piece] * 1023
    decoder = SSEDecoder()
    for part in pieces:
        assert decoder.decode(part) == []
    assert len(decoder._pending) == 1024
    assert all(kept is given for kept, given in zip(decoder._pending, pieces, strict=True))
    events = decoder.decode(b"\n\n")
    assert events == [E("x" * (16 * MIB))]
    assert decoder._pending == []


def test_a_long_line_without_an_end_is_kept_for_the_close() -> None:
    decoder = SSEDecoder()
    for part in (b"data: ", b"a" * 1000, b"b" * 1000):
        assert decoder.decode(part) == []
    assert decoder.end() == [E("a" * 1000 + "b" * 1000)]


@pytest.mark.parametrize(
    "pieces",
    [
        [b"data: " + b"x" * 60, b"x" * 60],  # one line, growing past the cap without an end
        [b"data: " + b"x" * 200 + b"\n"],  # one complete line past the cap
        [b"data: " + b"x" * 40 + b"\n"] * 3,  # data lines of one event adding up past it
        [b"data: ok\n\n", b"data: " + b"x" * 40 + b"\n", b"data:" + b"x" * 40 + b"\n", b": " + b"c" * 200],
        [b"event: " + b"e" * 200 + b"\n"],  # any line counts
    ],
)
def test_an_event_past_the_cap_is_refused(pieces: list[bytes]) -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(EventTooLarge) as caught:
        for part in pieces:
            decoder.decode(part)
    assert caught.value.limit == 100
    assert str(caught.value) == "a stream event is larger than 100 bytes"


def test_events_under_the_cap_pass_one_after_another() -> None:
    """The cap is per event: many events of 60 bytes under a 100-byte cap all arrive."""
    decoder = SSEDecoder(max_event_bytes=100)
    stream = (b"data: " + b"x" * 54 + b"\n\n") * 1000
    events = []
    for start in range(0, len(stream), 7):
        events += decoder.decode(stream[start : start + 7])
    assert events == [E("x" * 54)] * 1000
