"""A response body decoded with a cap on what it may inflate to. Pure: bytes in, bytes out.

httpx inflates gzip, deflate (and brotli or zstd when those packages are installed) in one call per
network read, with no bound: 2 MB of gzip or a few KB of brotli can become gigabytes before anyone
counts. The client therefore reads the raw body and inflates it here, at most ``INFLATE_STEP_BYTES`` per
call, counting as it goes, and stops as soon as the total passes the limit. It asks only for the
encodings it can bound this way (``ACCEPT_ENCODING``) and refuses any other.
"""

from __future__ import annotations

import zlib

from ._constants import INFLATE_STEP_BYTES, MAX_RAW_DEFLATE_PROBE_BYTES

_KNOWN = frozenset({"gzip", "x-gzip", "deflate"})


class BodyTooLarge(Exception):
    """The decoded body passed the limit; nothing more was inflated."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit


class UnsupportedEncoding(Exception):
    """A content-encoding that was not asked for and cannot be inflated with a bound."""

    def __init__(self, encoding: str) -> None:
        super().__init__(encoding)
        self.encoding = encoding


class CorruptBody(Exception):
    """The compressed body does not inflate (zlib's reason in the message)."""


def _encoding(header: str | None) -> str | None:
    """The one encoding of a content-encoding header, or None for identity."""
    if not header:
        return None
    names = [name.strip().lower() for name in (header or "").split(",")]
    names = [name for name in names if name and name != "identity"]
    if not names:
        return None
    if len(names) > 1 or names[0] not in _KNOWN:
        raise UnsupportedEncoding(", ".join(names))
    return names[0]


class BodyDecoder:
    """Raw body pieces in (``decode``), decoded pieces out, ``flush`` at the end of the body.

    Raises BodyTooLarge once the decoded total would pass ``limit``, UnsupportedEncoding at
    construction for an encoding it cannot bound, CorruptBody for data that does not inflate.
    """

    __slots__ = ("_inflater", "_left", "_seen", "limit")

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        self.limit = limit
        self._left = limit
        encoding = _encoding(content_encoding)
        self._inflater: zlib._Decompress | None = None
        # "deflate" should be zlib-wrapped, but some servers send it raw: until the first output, the
        # bytes seen are kept, and if they do not inflate as zlib they are tried as raw deflate (as
        # browsers and httpx do). None once decided.
        self._seen: bytearray | None = bytearray() if encoding == "deflate" else None
        if encoding == "deflate":
            self._inflater = zlib.decompressobj()
        elif encoding is not None:
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    @property
    def inflates(self) -> bool:
        """Whether the body is compressed (else its declared length is its decoded length)."""
        return self._inflater is not None

    def _count(self, piece: bytes) -> bytes:
        self._left -= len(piece)
        if self._left < 0:
            raise BodyTooLarge(self.limit)
        return piece

    def decode(self, data: bytes) -> list[bytes]:
        """The decoded bytes of the next raw piece (a list: one piece may inflate in several steps)."""
        if self._inflater is None:
            return [self._count(data)] if data else []
        if self._seen is not None:
            return self._first_deflate(data)
        return self._inflate(data)

    def _first_deflate(self, data: bytes) -> list[bytes]:
        assert self._seen is not None
        self._seen += data
        try:
            out = self._inflate(data)
        except CorruptBody:
            seen, self._seen = bytes(self._seen), None
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            self._left = self.limit  # nothing was returned yet
            return self._inflate(seen)
        if out or len(self._seen) > MAX_RAW_DEFLATE_PROBE_BYTES:
            self._seen = None
        return out

    def _inflate(self, data: bytes) -> list[bytes]:
        inflater = self._inflater
        assert inflater is not None
        out = []
        try:
            while data:
                piece = inflater.decompress(data, INFLATE_STEP_BYTES)
                if piece:
                    out.append(self._count(piece))
                data = inflater.unconsumed_tail
        except zlib.error as err:
            raise CorruptBody(str(err)) from None
        return out

    def flush(self) -> list[bytes]:
        """What is left once the raw body has ended."""
        if self._inflater is None:
            return []
        try:
            rest = self._inflater.flush()
        except zlib.error as err:
            raise CorruptBody(str(err)) from None
        return [self._count(rest)] if rest else []
