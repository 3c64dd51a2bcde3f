"""The event-stream parser against the HTML standard's rules, fed in every possible split."""

from __future__ import annotations

import pytest

from thrixel_blender.client import sse
from thrixel_blender.client.sse import ServerSentEvent, SSEParser


def parse_whole(stream: bytes) -> list[ServerSentEvent]:
    parser = SSEParser()
    events = parser.feed(stream)
    events += parser.close()
    return events


def parse_in_pieces(stream: bytes, size: int) -> list[ServerSentEvent]:
    parser = SSEParser()
    events: list[ServerSentEvent] = []
    for start in range(0, len(stream), size):
        events += parser.feed(stream[start : start + size])
    events += parser.close()
    return events


def data_of(events: list[ServerSentEvent]) -> list[str]:
    return [event.data for event in events]


STREAM = (
    b": keep-alive\n\n"
    b'data: {"type": "progress", "percent": 0.5}\n\n'
    b"event: log\r\ndata: first line\r\ndata: second line\r\n\r\n"
    b"id: 7\rretry: 2500\rdata:no space\r\r"
    b'data: {"message": "caf\xc3\xa9 \xe2\x9c\x93"}\n\n'
)


def test_parses_whole_stream() -> None:
    events = parse_whole(STREAM)
    assert data_of(events) == [
        '{"type": "progress", "percent": 0.5}',
        "first line\nsecond line",
        "no space",
        '{"message": "café ✓"}',
    ]
    assert events[1].event == "log"
    assert events[0].event == "message"
    assert events[2].last_event_id == "7"
    assert events[2].retry_ms == 2500


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_split_frames_give_same_events(size: int) -> None:
    assert parse_in_pieces(STREAM, size) == parse_whole(STREAM)


def test_crlf_split_between_chunks_is_one_line_ending() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []
    events = parser.feed(b"\r\n")
    assert data_of(events) == ["a"]


def test_lone_cr_at_end_waits_for_next_chunk() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r\r") == []
    events = parser.feed(b"data: b\n\n")
    assert data_of(events) == ["a", "b"]


def test_comments_are_counted_not_dispatched() -> None:
    parser = SSEParser()
    events = parser.feed(b": ping\n:\n: another\n\n")
    assert events == []
    assert parser.comments == 3


def test_empty_data_line_dispatches_empty_event() -> None:
    assert data_of(parse_whole(b"data\n\n")) == [""]
    assert data_of(parse_whole(b"data:\ndata:\n\n")) == ["\n"]


def test_event_without_data_is_not_dispatched() -> None:
    assert parse_whole(b"event: log\n\n") == []


def test_unterminated_event_is_dropped_at_close() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: complete\n\ndata: cut") == [ServerSentEvent(data="complete")]
    assert parser.close() == []


def test_only_one_leading_space_is_stripped() -> None:
    assert data_of(parse_whole(b"data:  two spaces\n\n")) == [" two spaces"]


def test_unknown_fields_are_ignored() -> None:
    assert data_of(parse_whole(b"foo: bar\ndata: x\n\n")) == ["x"]


def test_invalid_retry_and_null_id_are_ignored() -> None:
    events = parse_whole(b"id: 1\n\nretry: soon\nid: a\x00b\ndata: x\n\n")
    assert events[0].retry_ms is None
    assert events[0].last_event_id == "1"


def test_byte_order_mark_is_skipped_once() -> None:
    stream = b"\xef\xbb\xbfdata: x\n\n"
    assert data_of(parse_in_pieces(stream, 1)) == ["x"]


def test_utf8_character_split_across_chunks() -> None:
    stream = "data: é✓\n\n".encode()
    assert data_of(parse_in_pieces(stream, 1)) == ["é✓"]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert data_of(parse_whole(b"data: \xff\n\n")) == ["\ufffd"]


def test_line_over_limit_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_LINE_CHARS", 1000)
    parser = SSEParser()
    with pytest.raises(sse.SSEFormatError):
        for _ in range(2000):
            parser.feed(b"x")


def test_line_over_limit_in_one_chunk_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_LINE_CHARS", 1000)
    with pytest.raises(sse.SSEFormatError):
        SSEParser().feed(b"data: " + b"x" * 2000)


def test_event_over_limit_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_EVENT_CHARS", 1000)
    parser = SSEParser()
    with pytest.raises(sse.SSEFormatError):
        parser.feed(b"data: " + b"x" * 600 + b"\n" + b"data: " + b"y" * 600 + b"\n")


def test_limits_reset_between_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_EVENT_CHARS", 1000)
    parser = SSEParser()
    stream = (b"data: " + b"x" * 600 + b"\n\n") * 5
    assert len(parser.feed(stream)) == 5


def test_long_line_in_small_chunks_is_linear() -> None:
    # 200,000 one-byte chunks of one line: quadratic buffering would take minutes.
    parser = SSEParser()
    for _ in range(200_000):
        parser.feed(b"a")
    assert data_of(parser.feed(b"\ndata: done\n\n")) == ["done"]
