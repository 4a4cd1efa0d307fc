"""Just enough HTTP/1.1 to follow messages on a keep-alive byte stream.

The proxy forwards bytes untouched; this parser only tells it where each request or
response starts (its head, parsed) and ends (Content-Length, chunked framing, or the
connection's end), so it can count requests in flight, answer some itself and cut a
connection at a chosen point. Events come from a generator, so the caller's bookkeeping
for one message (e.g. popping the request a response answers) happens before the next
message's head is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

__all__ = ["CHUNKED", "UNTIL_CLOSE", "Head", "HttpError", "MessageEvent", "MessageStream"]

CHUNKED = -1
UNTIL_CLOSE = -2
MAX_HEAD = 64 * 1024


class HttpError(ValueError):
    """The byte stream is not HTTP/1.1 the parser can follow."""


@dataclass
class Head:
    """A message head: the raw bytes (forwarded as they are) and what was parsed from them."""

    raw: bytes
    start_line: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0]

    @property
    def status(self) -> int:
        parts = self.start_line.split(" ", 2)
        try:
            return int(parts[1])
        except (IndexError, ValueError) as exc:
            raise HttpError(f"bad status line {self.start_line!r}") from exc

    def declared_length(self) -> int | None:
        """CHUNKED, the Content-Length, or None when neither header is there."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return CHUNKED
        length = self.headers.get("content-length")
        if length is None:
            return None
        try:
            return int(length)
        except ValueError as exc:
            raise HttpError(f"bad Content-Length {length!r}") from exc


@dataclass
class MessageEvent:
    """``head`` (data = the raw head), ``body`` (raw body bytes, framing included) or ``end``."""

    kind: str
    data: bytes
    head: Head


def parse_head(raw: bytes) -> Head:
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return Head(raw=raw, start_line=lines[0], headers=headers)


class MessageStream:
    """Splits one direction of a connection into messages; ``body_length`` decides each body.

    ``body_length(head)`` returns a byte count, CHUNKED or UNTIL_CLOSE (the caller knows
    what a request's method implies for its response, e.g. HEAD has no body).
    """

    def __init__(self, body_length: Callable[[Head], int]) -> None:
        self._body_length = body_length
        self._buffer = bytearray()
        self._head: Head | None = None
        self._remaining = 0  # body bytes left (length mode) or chunk data left (chunked)
        self._chunk_state = ""  # "", "size", "data", "crlf", "trailer"

    @property
    def in_message(self) -> bool:
        return self._head is not None

    def feed(self, data: bytes) -> Iterator[MessageEvent]:
        """Yield the events the next ``data`` completes, in order."""
        view = data
        while view:
            if self._head is None:
                view = yield from self._read_head(view)
                continue
            if self._remaining == UNTIL_CLOSE:
                yield MessageEvent("body", bytes(view), self._head)
                return
            if self._chunk_state:
                view = yield from self._read_chunked(view, self._head)
            else:
                view = yield from self._read_length(view, self._head)

    def feed_eof(self) -> Iterator[MessageEvent]:
        """The stream ended: an until-close body is complete; anything else was cut short."""
        if self._head is not None and self._remaining == UNTIL_CLOSE:
            head, self._head = self._head, None
            yield MessageEvent("end", b"", head)

    def _read_head(self, view: bytes) -> Generator[MessageEvent, None, bytes]:
        start = max(0, len(self._buffer) - 3)
        self._buffer += view
        end = self._buffer.find(b"\r\n\r\n", start)
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise HttpError("message head longer than 64 KiB")
            return b""
        consumed = end + 4 - (len(self._buffer) - len(view))
        raw = bytes(self._buffer[: end + 4])
        self._buffer.clear()
        head = parse_head(raw)
        self._head = head
        yield MessageEvent("head", raw, head)
        length = self._body_length(head)
        if length == CHUNKED:
            self._chunk_state = "size"
            self._remaining = 0
        elif length == UNTIL_CLOSE:
            self._remaining = UNTIL_CLOSE
        elif length == 0:
            self._head = None
            yield MessageEvent("end", b"", head)
        else:
            self._remaining = length
        return view[consumed:]

    def _read_length(self, view: bytes, head: Head) -> Generator[MessageEvent, None, bytes]:
        take = min(self._remaining, len(view))
        yield MessageEvent("body", view if take == len(view) else view[:take], head)
        self._remaining -= take
        if self._remaining == 0:
            self._head = None
            yield MessageEvent("end", b"", head)
        return view[take:]

    def _read_chunked(self, view: bytes, head: Head) -> Generator[MessageEvent, None, bytes]:
        state = self._chunk_state
        if state == "data":
            take = min(self._remaining, len(view))
            yield MessageEvent("body", view if take == len(view) else view[:take], head)
            self._remaining -= take
            if self._remaining == 0:
                self._chunk_state = "crlf"
                self._remaining = 2
            return view[take:]
        if state == "crlf":
            take = min(self._remaining, len(view))
            yield MessageEvent("body", view[:take], head)
            self._remaining -= take
            if self._remaining == 0:
                self._chunk_state = "size"
            return view[take:]
        # "size" or "trailer": line-oriented
        start = max(0, len(self._buffer) - 1)
        self._buffer += view
        end = self._buffer.find(b"\r\n", start)
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise HttpError("chunk line longer than 64 KiB")
            return b""
        consumed = end + 2 - (len(self._buffer) - len(view))
        line = bytes(self._buffer[:end])
        self._buffer.clear()
        yield MessageEvent("body", view[:consumed], head)
        if state == "size":
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise HttpError(f"bad chunk size line {line!r}") from exc
            if size == 0:
                self._chunk_state = "trailer"
            else:
                self._chunk_state = "data"
                self._remaining = size
        elif not line:  # the empty line that ends the trailer section
            self._chunk_state = ""
            self._head = None
            yield MessageEvent("end", b"", head)
        return view[consumed:]
