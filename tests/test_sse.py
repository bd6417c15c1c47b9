"""The event-stream parser against WHATWG rules, fed in every possible split."""

import pytest

import dify_plugin_client as dpc

# (stream bytes, expected [(event, data, id)], truncated at close)
CASES = [
    (b"data: hello\n\n", [("message", "hello", "")], False),
    (b"data: a\r\n\r\ndata: b\r\r", [("message", "a", ""), ("message", "b", "")], False),
    (b"data: one\ndata: two\n\n", [("message", "one\ntwo", "")], False),
    (b"data:x\n\ndata: x\n\ndata:  x\n\n",
     [("message", "x", ""), ("message", "x", ""), ("message", " x", "")], False),
    (b": keep-alive\n\ndata: after comment\n\n", [("message", "after comment", "")], False),
    (b"\xef\xbb\xbfdata: bom\n\n", [("message", "bom", "")], False),
    (b"event: add\ndata: 1\n\ndata: 2\n\n", [("add", "1", ""), ("message", "2", "")], False),
    (b"id: 7\ndata: a\n\ndata: b\n\n", [("message", "a", "7"), ("message", "b", "7")], False),
    (b"id: x\x00y\ndata: a\n\n", [("message", "a", "")], False),
    (b"data\n\n", [("message", "", "")], False),
    (b"data\ndata\n\n", [("message", "\n", "")], False),
    (b"retry: 10\nfoo: bar\nData: no\ndata : no\n\n", [], False),
    (b"event: lonely\n\ndata: x\n\n", [("message", "x", "")], False),
    (b"data: caf\xc3\xa9 \xff\n\n", [("message", "caf\u00e9 \ufffd", "")], False),
    # the stream ends in the middle of an event: reported by close()
    (b"data: complete\n\ndata: cut", [("message", "complete", "")], True),
    (b"data: no blank line\n", [], True),
    (b"data: x\n\n: trailing comment", [("message", "x", "")], False),
    (b"", [], False),
    # CR LF then LF: one line end, then a blank line (byte by byte, found by hypothesis)
    (b"data:\ndata:\r\n\ndata: y\n\n", [("message", "\n", ""), ("message", "y", "")], False),
]


def _run(chunks):
    parser = dpc._SSEParser()
    events = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    truncated = parser.close()
    return [(e.event, e.data, e.id) for e in events], truncated


@pytest.mark.parametrize("stream,expected,truncated", CASES)
def test_whole_stream(stream, expected, truncated):
    assert _run([stream]) == (expected, truncated)


@pytest.mark.parametrize("stream,expected,truncated", CASES)
def test_every_two_way_split(stream, expected, truncated):
    for cut in range(len(stream) + 1):
        assert _run([stream[:cut], stream[cut:]]) == (expected, truncated), cut


@pytest.mark.parametrize("stream,expected,truncated", CASES)
def test_byte_by_byte(stream, expected, truncated):
    assert _run([stream[i:i + 1] for i in range(len(stream))]) == (expected, truncated)


def test_crlf_split_between_reads_is_one_line_end():
    events, _ = _run([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert events == [("message", "a\nb", "")]


def test_event_size_cap():
    parser = dpc._SSEParser(max_event_size=100)
    with pytest.raises(dpc.ResponseTooLargeError):
        parser.feed(b"data: " + b"x" * 200)
    parser = dpc._SSEParser(max_event_size=100)
    with pytest.raises(dpc.ResponseTooLargeError):
        for _ in range(20):
            parser.feed(b"data: " + b"x" * 10 + b"\n")


def test_large_batch_of_daemon_events():
    payload = b"".join(b'data: {"code":0,"n":%d}\n\n' % i for i in range(5000))
    events, truncated = _run([payload[i:i + 4096] for i in range(0, len(payload), 4096)])
    assert len(events) == 5000 and not truncated
    assert events[-1][1] == '{"code":0,"n":4999}'


def test_blank_line_split_matches_bytes_split():
    import random

    rng = random.Random(7)
    for _ in range(300):
        pieces = []
        for _ in range(rng.randint(0, 12)):
            pieces.append(b"x" * rng.choice([0, 1, 5, 900, 5000, 12000]))
            pieces.append(rng.choice([b"\n", b"\n\n", b"\n\n\n", b"\n\n\n\n", b""]))
        data = b"".join(pieces)
        assert dpc._split_blank_lines(data) == data.split(b"\n\n"), data[:80]


def test_long_blob_like_events_in_large_reads():
    line = b'data: {"blob":"' + b"QUJD" * 3000 + b'"}'
    stream = (line + b"\n\n") * 20
    events, truncated = _run([stream[i:i + 65536] for i in range(0, len(stream), 65536)])
    assert len(events) == 20 and not truncated
    assert all(e[1] == line[6:].decode() for e in events)


def test_an_empty_read_keeps_a_cr_that_ended_the_read_before():
    parser = dpc._SSEParser()
    events = parser.feed(b"data: a\r") + parser.feed(b"") + parser.feed(b"\ndata: b\n\n")
    assert [event.data for event in events] == ["a\nb"]


def test_long_lines_can_be_handed_over_undecoded():
    """With raw_long_lines, a read of long one-line events gives each event's data as a
    memoryview of the read (its reader decodes only what it needs); an event that
    began in an earlier read, and short events, still come as text."""
    line = b'data: {"result":"' + b"0f" * 1000 + b'"}'
    stream = (line + b"\n\n") * 3
    parser = dpc._SSEParser(raw_long_lines=True)
    events = parser.feed(stream)
    assert [type(event.data) for event in events] == [memoryview] * 3
    assert all(bytes(event.data) == line[6:] for event in events)
    cut = len(line) + 2 + 100  # the second event is split between two reads
    parser = dpc._SSEParser(raw_long_lines=True)
    events = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
    assert [type(event.data) for event in events] == [memoryview, str, memoryview]
    assert events[1].data == line[6:].decode()
    parser = dpc._SSEParser(raw_long_lines=True)
    assert [type(event.data) for event in parser.feed(b"data: short\n\n" * 2)] == [str, str]
    parser = dpc._SSEParser()  # without it: text, as always
    assert [type(event.data) for event in parser.feed(stream)] == [str] * 3
