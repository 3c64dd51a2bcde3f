"""Server-Sent Events parser that works on bytes, as the HTML standard defines the format.

Feed it raw chunks as they arrive from the socket, in any split (a frame, a line, a UTF-8
character or a CRLF pair may straddle two chunks), and it returns the events completed so far.
Lines end with CRLF, LF or CR; lines starting with ":" are comments; several `data:` lines join
with LF; `id:` and `retry:` are tracked. No I/O, no threads.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

MAX_LINE_CHARS = 1_000_000
"""Maximum line length the parser accepts; progress events are a few hundred characters."""
MAX_EVENT_CHARS = 4_000_000
"""Most data one event may collect over its `data:` lines."""


class SSEFormatError(ValueError):
    """The stream broke a size limit, so it is not a progress stream worth reading."""


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event."""

    data: str
    event: str = "message"
    last_event_id: str = ""
    retry_ms: int | None = None
    """The reconnection time the server asked for, when it sent one."""


class SSEParser:
    """Incremental event-stream parser.

    `feed()` returns the events completed by the chunk. `comments` counts comment lines
    (keep-alives), so callers can tell a live but idle stream from a silent one.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        # Text after the last line ending, kept as pieces so that a long line arriving in
        # many small chunks costs linear time instead of one copy per chunk.
        self._partial: list[str] = []
        self._partial_chars = 0
        self._event_chars = 0
        self._at_stream_start = True
        self._data: list[str] = []
        self._event_type = ""
        self._last_event_id = ""
        self._retry_ms: int | None = None
        self.comments = 0

    @property
    def last_event_id(self) -> str:
        return self._last_event_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse `chunk` and return the events it completes.

        Raises:
            SSEFormatError: a line or an event is larger than the limits above.
        """
        text = self._decoder.decode(chunk)
        if self._at_stream_start and text:
            # A single leading byte order mark is not part of the stream.
            text = text.removeprefix("\ufeff")
            self._at_stream_start = False
        if "\r" not in text and "\n" not in text and not self._buffer.endswith("\r"):
            self._partial.append(text)
            self._partial_chars += len(text)
            self._check_line_length(self._partial_chars)
            return []
        self._buffer += "".join(self._partial) + text
        self._partial.clear()
        self._partial_chars = 0
        events = self._consume_lines(final=False)
        self._check_line_length(len(self._buffer))
        return events

    @staticmethod
    def _check_line_length(length: int) -> None:
        if length > MAX_LINE_CHARS:
            raise SSEFormatError(
                f"The stream sent a line longer than {MAX_LINE_CHARS:,} characters"
            )

    def close(self) -> list[ServerSentEvent]:
        """End the stream, discarding an event not ended by a blank line (HTML standard)."""
        self._buffer += "".join(self._partial) + self._decoder.decode(b"", final=True)
        self._partial.clear()
        self._partial_chars = 0
        self._consume_lines(final=True)
        self._data = []
        self._event_type = ""
        return []

    def _consume_lines(self, *, final: bool) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        start = 0
        buffer = self._buffer
        length = len(buffer)
        while start < length:
            cr = buffer.find("\r", start)
            lf = buffer.find("\n", start)
            if cr == -1 and lf == -1:
                break
            if cr != -1 and (lf == -1 or cr < lf):
                if cr + 1 == length and not final:
                    # A CR at the end of the chunk may be the first half of CRLF.
                    break
                end, next_start = cr, cr + 2 if buffer.startswith("\n", cr + 1) else cr + 1
            else:
                end, next_start = lf, lf + 1
            event = self._process_line(buffer[start:end])
            if event is not None:
                events.append(event)
            start = next_start
        self._buffer = buffer[start:]
        if final and self._buffer:
            # The last line had no line ending; the standard drops it with the pending event.
            self._buffer = ""
        return events

    def _process_line(self, line: str) -> ServerSentEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._event_chars += len(value) + 1
            if self._event_chars > MAX_EVENT_CHARS:
                raise SSEFormatError(
                    f"The stream sent an event larger than {MAX_EVENT_CHARS:,} characters"
                )
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self._event_chars = 0
        if not self._data:
            self._event_type = ""
            return None
        event = ServerSentEvent(
            data="\n".join(self._data),
            event=self._event_type or "message",
            last_event_id=self._last_event_id,
            retry_ms=self._retry_ms,
        )
        self._data = []
        self._event_type = ""
        return event
