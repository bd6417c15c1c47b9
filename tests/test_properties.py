"""Property-based tests of the wire helpers, each checked against an independent oracle.

* SSE: ``_SSEParser`` vs httpx-sse's WHATWG decoder, and split invariance.
* multipart: ``_MultipartBody`` parsed back by python-multipart.
* ``$ref``: ``_resolve_refs`` vs jsonref (acyclic), and termination + marks (cyclic).
* envelope / entities / casting: arbitrary input never raises anything but the
  module's own errors.

Example counts are kept small enough for six interpreters in CI; set
``DPC_HYPOTHESIS_SCALE=10`` (say) for a longer local run. The edge cases these
properties found (deep nesting, huge digit strings, odd file names, cyclic $ref
siblings, ...) are kept as explicit regression tests at the end of this file.
"""

import base64
import codecs
import copy
import datetime
import decimal
import io
import json
import os
import re
import sys
from urllib.parse import quote

import jsonref
import pytest
import python_multipart
from httpx_sse import _decoders as httpx_sse_decoders
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import dify_plugin_client as dpc

# The oracles are hard imports: a missing one is an error, never a skip. They are
# all in tests/requirements.txt.

_SCALE = max(1, int(os.environ.get("DPC_HYPOTHESIS_SCALE", "1") or 1))


def _settings(examples):
    return settings(max_examples=examples * _SCALE, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# =============================================================================
# SSE
# =============================================================================

# httpx-sse >= 0.4.1 splits lines on CR, LF and CRLF only (as SSE requires). On
# Python 3.8 pip installs 0.4.0, which relies on httpx's LineDecoder; that one also
# splits on the other str.splitlines() separators, so those characters are left
# out of the generated streams there.
_SSE_LINE_DECODER = getattr(httpx_sse_decoders, "SSELineDecoder", None)
if _SSE_LINE_DECODER is None:  # pragma: no cover - depends on the installed version
    import httpx._decoders

    _SSE_LINE_DECODER = httpx._decoders.LineDecoder
    _EXOTIC_SEPARATORS = ""
else:
    _EXOTIC_SEPARATORS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

_SSE_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" :abcdeXYZ019{}\"\\\t\x00\u00e9\u4e2d\U0001f600\ufeff"
                             + _EXOTIC_SEPARATORS)),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"
                      + "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")),
    max_size=12)
# Raw bytes that are not valid UTF-8 (lone continuation, truncated sequences,
# an encoded surrogate, an overlong form, a BOM prefix).
_BAD_UTF8 = st.sampled_from([b"\xff", b"\x80", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80",
                             b"\xc0\xaf", b"\xef\xbb"])


@st.composite
def _sse_value(draw):
    parts = draw(st.lists(st.one_of(_SSE_TEXT.map(lambda t: t.encode("utf-8")), _BAD_UTF8),
                          max_size=3))
    return b"".join(parts)


_FIELD_NAMES = st.sampled_from([b"data", b"data", b"data", b"event", b"event", b"id", b"id",
                                b"retry", b"Data", b"data ", b" data", b"foo", b"",
                                b"\xef\xbb\xbfdata"])


@st.composite
def _sse_line(draw):
    kind = draw(st.sampled_from(["field", "field", "field", "field", "bare", "comment", "blank",
                                 "fast", "fast", "long"]))
    if kind == "blank":
        return b""
    if kind == "comment":
        return b":" + draw(_sse_value())
    if kind == "fast":  # the daemon's own form
        return b"data: " + draw(_sse_value())
    if kind == "long":  # a line long enough for the parser's long-line walk
        return b"data: " + b"0f" * draw(st.integers(500, 700)) + draw(_sse_value())
    name = draw(_FIELD_NAMES)
    if kind == "bare":
        return name
    return name + b":" + draw(st.sampled_from([b"", b" ", b"  "])) + draw(_sse_value())


@st.composite
def sse_streams(draw):
    """Blocks of field lines, most of them closed by a blank line (so events dispatch)."""
    lines = []
    for block in draw(st.lists(st.lists(_sse_line(), max_size=4), max_size=6)):
        lines.extend(block)
        if draw(st.integers(0, 6)):
            lines.append(b"")
    out = [b"\xef\xbb\xbf"] if draw(st.integers(0, 3)) == 0 else []
    for line in lines:
        out.append(line)
        out.append(draw(st.sampled_from([b"\n", b"\r", b"\r\n"])))
    if out and draw(st.integers(0, 3)) == 0:
        out.pop()  # the stream ends without its last line terminator
    return b"".join(out)


def _split(data, cuts):
    points = sorted(set(min(max(c, 0), len(data)) for c in cuts))
    pieces, last = [], 0
    for point in points + [len(data)]:
        pieces.append(data[last:point])
        last = point
    return pieces


def _client_sse(chunks, raw_long_lines=False):
    """The events as (event, data, id); data handed over raw is decoded as the
    parser would have decoded it (UTF-8, with replacement)."""
    parser = dpc._SSEParser(raw_long_lines=raw_long_lines)
    events = []
    for chunk in chunks:
        for e in parser.feed(chunk):
            data = e.data if isinstance(e.data, str) else str(e.data, "utf-8", "replace")
            events.append((e.event, data, e.id))
    return events, parser.close()


def _oracle_sse(data):
    """httpx-sse over the stream decoded as WHATWG says (UTF-8, replacement, one BOM dropped).

    Returns (events, truncated) where truncated means the stream ended inside an event:
    data lines not yet dispatched, or an unterminated line that is not a comment.
    """
    text = codecs.getincrementaldecoder("utf-8-sig")(errors="replace").decode(data, final=True)
    lines_decoder = _SSE_LINE_DECODER()
    decoder = httpx_sse_decoders.SSEDecoder()
    events = []

    def feed(line):
        if line == "" and not decoder._data:
            # WHATWG: an empty data buffer dispatches nothing (httpx-sse would still
            # emit an event carrying only an id or event type); reset the type.
            decoder._event = ""
            return
        event = decoder.decode(line)
        if event is not None:
            events.append((event.event, event.data, event.id))

    for line in lines_decoder.decode(text) if text else []:
        feed(line)
    terminated = lines_decoder.trailing_cr  # a final CR ends its line
    tail = lines_decoder.flush()
    partial = ""
    for line in tail:
        if terminated:
            feed(line)
        else:
            partial = line
    truncated = bool(decoder._data) or (partial != "" and not partial.startswith(":"))
    if len(data) < 3 and b"\xef\xbb\xbf".startswith(data):
        truncated = False  # an incomplete BOM and nothing else: no event was started
    return events, truncated


@_settings(200)
@given(stream=sse_streams(), cuts=st.lists(st.integers(0, 400), max_size=8))
@example(stream=b"data: a\r\n\r\n", cuts=[8])
@example(stream=b"\xef\xbb\xbfdata: bom\n\n", cuts=[1, 2])
def test_sse_any_split_gives_the_same_events(stream, cuts):
    whole = _client_sse([stream])
    assert _client_sse(_split(stream, cuts)) == whole
    # handing long lines over undecoded changes nothing else
    assert _client_sse([stream], raw_long_lines=True) == whole
    assert _client_sse(_split(stream, cuts), raw_long_lines=True) == whole
    if len(stream) <= 64:
        assert _client_sse([stream[i:i + 1] for i in range(len(stream))]) == whole


@_settings(300)
@given(data=st.binary(max_size=60).map(lambda b: bytes(b"ab\n\r"[x % 4] for x in b)))
@example(data=b"a\n" * 12 + b"\n")
def test_find_blank_line_is_bytes_find(data):
    """The memchr walk finds the first blank line where bytes.find does, lone line ends
    before it or not."""
    assert dpc._find_blank_line(data) == data.find(b"\n\n")


@_settings(250)
@given(stream=sse_streams())
@example(stream=b"id: 1\n\nevent: x\n\ndata: y\n\n")
@example(stream=b"data: a\n\r")
@example(stream=b"data\ndata:\n\n")
def test_sse_same_events_as_httpx_sse(stream):
    events, truncated = _client_sse([stream])
    expected_events, expected_truncated = _oracle_sse(stream)
    assert events == expected_events
    assert truncated == expected_truncated


# =============================================================================
# multipart/form-data
# =============================================================================

# Backslash is left out: python-multipart (like Go's mime.ParseMediaType, which the
# daemon uses) reads a quoted-string with RFC 822 escapes, while the encoder follows
# WHATWG, where a backslash is literal. See test_multipart_filename_ending_in_backslash.
_PART_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list('"\r\n;=% \t\'abc.-_/:\u00e9\u00fc\u4e2d\U0001f4e6')),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\\")),
    max_size=20)


def _browser_escape(text):
    """WHATWG: in names and filenames only ", CR and LF are escaped, as %22, %0D, %0A."""
    out = []
    for char in text:
        out.append({'"': "%22", "\r": "%0D", "\n": "%0A"}.get(char, char))
    return "".join(out).encode("utf-8")


def _parse_multipart(content_type, body, chunk):
    """Parse with python-multipart; returns [(headers dict, data bytes)]."""
    _, options = python_multipart.multipart.parse_options_header(content_type)
    parts = []
    state = {}

    def on_part_begin():
        state["headers"], state["data"] = [], []

    def on_header_field(data, start, end):
        state.setdefault("field", []).append(data[start:end])

    def on_header_value(data, start, end):
        state.setdefault("value", []).append(data[start:end])

    def on_header_end():
        state["headers"].append((b"".join(state.pop("field", [])).lower(),
                                 b"".join(state.pop("value", []))))

    def on_part_data(data, start, end):
        state["data"].append(data[start:end])

    def on_part_end():
        parts.append((state["headers"], b"".join(state["data"])))

    parser = python_multipart.MultipartParser(options[b"boundary"], {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data, "on_part_end": on_part_end})
    for start in range(0, len(body), chunk):
        parser.write(body[start:start + chunk])
    parser.finalize()
    return parts


class _Pipe(io.RawIOBase):
    """A non-seekable binary stream (like a pipe)."""

    def __init__(self, data):
        self._inner = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        return self._inner.readinto(buffer)


_CONTENT = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda a, b: a + b"\r\n--dify-plugin-client-" + b, st.binary(max_size=64),
              st.binary(max_size=64)),
    st.sampled_from([b"", b"\r\n", b"--", b"\r\n--\r\n", b"\r\n\r\n"]))


@_settings(200)
@given(fields=st.lists(st.tuples(_PART_TEXT, _PART_TEXT), max_size=4),
       file_field=_PART_TEXT, filename=_PART_TEXT, content=_CONTENT,
       source_kind=st.sampled_from(["bytes", "bytearray", "seekable", "pipe"]),
       chunk=st.integers(1, 4096))
@example(fields=[('a"b\r\nc', "v\r\n--x")], file_field="f", filename='x"\r\n.difypkg',
         content=b"--", source_kind="bytes", chunk=7)
def test_multipart_round_trips_through_python_multipart(fields, file_field, filename, content,
                                                         source_kind, chunk):
    source = {"bytes": content, "bytearray": bytearray(content),
              "seekable": io.BytesIO(content),
              "pipe": io.BufferedReader(_Pipe(content))}[source_kind]
    upload = dpc._UploadSource.open(source, "pkg", 1 << 20)
    body = dpc._MultipartBody(fields, file_field, filename, upload)
    data = b"".join(body.blocks())
    assert len(data) == body.length
    assert body.content_type.startswith("multipart/form-data; boundary=")
    parts = _parse_multipart(body.content_type, data, chunk)
    assert len(parts) == len(fields) + 1
    for (headers, value), (name, text) in zip(parts, fields):
        assert [h for h, _ in headers] == [b"content-disposition"]
        kind, options = python_multipart.multipart.parse_options_header(
            headers[0][1].decode("latin-1"))
        assert kind == b"form-data" and options == {b"name": _browser_escape(name)}
        assert value == text.encode("utf-8")
    headers, value = parts[-1]
    assert [h for h, _ in headers] == [b"content-disposition", b"content-type"]
    kind, options = python_multipart.multipart.parse_options_header(
        headers[0][1].decode("latin-1"))
    assert kind == b"form-data"
    assert options == {b"name": _browser_escape(file_field),
                       b"filename": _browser_escape(filename)}
    assert headers[1][1] == b"application/octet-stream"
    assert value == content


# =============================================================================
# $ref resolution
# =============================================================================

_DEF_NAME = st.one_of(
    st.sampled_from(["item", "node", "a~b", "a/b", "~1", "%25", "sp ace", "\u00e9t\u00e9", "$x",
                     "0", "", "#h"]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=6))
_PROP_NAME = st.text(st.characters(blacklist_categories=("Cs",)), max_size=5).filter(
    lambda name: not name.startswith("$circular"))
_SIBLING_KEYS = st.sampled_from(["description", "title", "type", "readOnly", "$comment",
                                 "format", "minimum"])
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))


def _pointer_ref(name, encode):
    token = name.replace("~", "~0").replace("/", "~1")
    return "#/$defs/" + (quote(token, safe="") if encode else token)


def _plain_ref_ok(name):
    return re.match(r"[A-Za-z0-9_$.~-]*\Z", name) is not None


@st.composite
def _schema(draw, names, allowed, depth):
    """A schema node. ``allowed`` is the set of def names a $ref here may point to."""
    kinds = ["leaf"]
    if allowed:
        kinds += ["ref", "ref"]
    if depth > 0:
        kinds += ["object", "array", "combo", "additional"]
    kind = draw(st.sampled_from(kinds))
    if kind == "leaf":
        return draw(st.sampled_from([{}, {"type": "string"}, {"type": "integer", "minimum": 0},
                                     {"description": "d"}, {"type": "boolean", "title": "t"}]))
    if kind == "ref":
        target = draw(st.sampled_from(sorted(allowed)))
        encode = not _plain_ref_ok(target) or draw(st.booleans())
        node = {"$ref": _pointer_ref(target, encode)}
        if draw(st.integers(0, 2)) == 0:
            for key in draw(st.lists(_SIBLING_KEYS, max_size=3, unique=True)):
                node[key] = draw(_SCALAR)
            if depth > 0 and draw(st.booleans()):
                node["items"] = draw(_schema(names, allowed, depth - 1))
        return node
    child = _schema(names, allowed, depth - 1)
    if kind == "object":
        return {"type": "object",
                "properties": draw(st.dictionaries(_PROP_NAME, child, max_size=3)),
                "required": draw(st.lists(_PROP_NAME, max_size=2))}
    if kind == "array":
        return {"type": "array", "items": draw(child)}
    if kind == "combo":
        return {draw(st.sampled_from(["anyOf", "allOf", "oneOf"])):
                draw(st.lists(child, min_size=1, max_size=3))}
    return {"type": "object", "additionalProperties": draw(child)}


@st.composite
def ref_documents(draw, cyclic):
    """(schema, edges): a document with $defs; edges maps each def to the defs it refers to."""
    names = draw(st.lists(_DEF_NAME, min_size=1, max_size=5, unique=True))
    defs = {}
    for index, name in enumerate(names):
        allowed = set(names) if cyclic else set(names[index + 1:])  # acyclic: refs point "down"
        # Every def is an object schema so that siblings can always be merged into it.
        body = draw(_schema(names, allowed, 2))
        if "$ref" in body:
            body = {"type": "object", "properties": {"p": body}}
        defs[name] = body
    root = draw(_schema(names, set(names), 3))
    if draw(st.booleans()):
        root = {"type": "object", "properties": {"r": root}}
    root = dict(root, **{"$defs": defs})
    edges = {name: _refs_in(defs[name]) for name in names}
    return root, edges


def _refs_in(node):
    found = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                found.add(_def_name(ref))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _def_name(ref):
    from urllib.parse import unquote

    token = unquote(ref[len("#/$defs/"):])
    return token.replace("~1", "/").replace("~0", "~")


def _on_cycle(edges):
    """Names that can reach themselves."""
    result = set()
    for start in edges:
        seen, stack = set(), list(edges[start])
        while stack:
            name = stack.pop()
            if name == start:
                result.add(start)
                break
            if name not in seen:
                seen.add(name)
                stack.extend(edges[name])
    return result


def _jsonref_resolve(schema):
    result = jsonref.replace_refs(schema, merge_props=True, proxies=False, lazy_load=False)
    return json.loads(json.dumps(getattr(result, "__subject__", result)))


@_settings(200)
@given(document=ref_documents(cyclic=False))
@example(document=({"$ref": "#/$defs/a", "title": "local", "$defs": {
    "a": {"type": "object", "title": "target", "properties": {"b": {"$ref": "#/$defs/b"}}},
    "b": {"type": "string"}}}, {"a": {"b"}, "b": set()}))
def test_refs_acyclic_same_as_jsonref(document):
    schema, _ = document
    before = copy.deepcopy(schema)
    resolved = dpc._resolve_refs(schema)
    assert schema == before  # the input is never modified
    assert resolved == _jsonref_resolve(copy.deepcopy(schema))
    assert not _has_ref_key(resolved)  # ("$ref" may still be a string value)


def _has_ref_key(node):
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref_key(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_ref_key(value) for value in node)
    return False


def _marks(node, found):
    if isinstance(node, dict):
        if node.get("$circular_ref") is True:
            found.append(node)
        for value in node.values():
            _marks(value, found)
    elif isinstance(node, list):
        for value in node:
            _marks(value, found)
    return found


def _has_siblings(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str) and len(node) > 1:
            return True
        return any(_has_siblings(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_siblings(value) for value in node)
    return False


def _unmarked_refs(node):
    """Refs left in place outside marked nodes (a marked node is copied as it is, siblings
    included: see test_refs_siblings_of_a_circular_ref_are_resolved)."""
    if isinstance(node, dict):
        if node.get("$circular_ref") is True:
            return 0
        if isinstance(node.get("$ref"), str):
            return 1 + sum(_unmarked_refs(v) for v in node.values())
        return sum(_unmarked_refs(v) for v in node.values())
    if isinstance(node, list):
        return sum(_unmarked_refs(v) for v in node)
    return 0


@_settings(200)
@given(document=ref_documents(cyclic=True))
@example(document=({"$ref": "#/$defs/a", "$defs": {"a": {"type": "object", "properties": {
    "self": {"$ref": "#/$defs/a"}}}}}, {"a": {"a"}}))
@example(document=({"$defs": {"a": {"type": "array", "items": {"$ref": "#/$defs/a", "items": {}}}}},
                   {"a": {"a"}}))
def test_refs_cyclic_terminate_and_mark_the_cycle(document):
    schema, edges = document
    before = copy.deepcopy(schema)
    resolved = dpc._resolve_refs(schema)
    assert schema == before
    json.dumps(resolved)  # a finite tree: no shared cycles in the output
    marks = _marks(resolved, [])
    cyclic = _on_cycle(edges)
    if not _has_siblings(schema):
        # With siblings, "local keys win" may replace the very key through which the
        # cycle runs ({"$ref": "#/$defs/a", "items": {}}): then nothing is left to mark.
        assert bool(marks) == bool(cyclic)
    for mark in marks:  # only refs that point back into their own chain are marked
        assert _def_name(mark["$ref"]) in cyclic
    assert _unmarked_refs(resolved) == 0  # every other ref was inlined


# =============================================================================
# Envelope decoding and entities: only the module's own errors
# =============================================================================

_JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                          st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
_JSON = st.recursive(_JSON_SCALARS,
                     lambda children: st.one_of(st.lists(children, max_size=4),
                                                st.dictionaries(st.text(max_size=10), children,
                                                                max_size=4)),
                     max_leaves=20)
_ERROR_TYPES = sorted(dpc._DAEMON_ERROR_TYPES) + sorted(dpc._INVOKE_ERROR_TYPES) + [
    "ReadTimeout", "ValueError", "", "unmarshal_error"]


@st.composite
def _error_message(draw, depth=3):
    """The daemon's JSON-in-JSON error message, up to three layers, or something else."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.one_of(st.text(max_size=40), _JSON))
    inner = {}
    if draw(st.booleans()):
        inner["error_type"] = draw(st.one_of(st.sampled_from(_ERROR_TYPES), _JSON_SCALARS))
    if draw(st.integers(0, 4)):
        inner["message"] = draw(_error_message(depth - 1))
    if draw(st.booleans()):
        inner["args"] = draw(_JSON)
    return json.dumps(inner)


@st.composite
def _envelope_bytes(draw):
    kind = draw(st.sampled_from(["raw", "json", "envelope", "envelope", "envelope"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(_JSON)).encode("utf-8")
    envelope = {}
    if draw(st.integers(0, 5)):
        envelope["code"] = draw(st.one_of(st.sampled_from([0, 0, -400, -401, -403, -404, -500]),
                                          _JSON_SCALARS))
    if draw(st.integers(0, 5)):
        envelope["message"] = draw(_error_message())
    if draw(st.integers(0, 3)):
        envelope["data"] = draw(_JSON)
    if draw(st.integers(0, 5)) == 0:
        envelope[draw(st.text(max_size=5))] = draw(_JSON)
    text = json.dumps(envelope)
    if draw(st.integers(0, 9)) == 0:
        text = text[:draw(st.integers(0, len(text)))]  # cut
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"])),
                       "replace")


_STATUSES = st.one_of(st.sampled_from([200, 200, 201, 204, 301, 302, 400, 401, 404, 413, 500,
                                       502, 503, 504]), st.integers(100, 599))


@_settings(400)
@given(status=_STATUSES, body=_envelope_bytes())
@example(status=404, body=b'{"code":"not_found","message":"route not found"}')
@example(status=200, body=b'{"code":-500,"message":"{\\"message\\":\\"{\\\\\\"error_type\\\\\\":'
                          b'\\\\\\"InvokeRateLimitError\\\\\\",\\\\\\"message\\\\\\":\\\\\\"slow'
                          b'\\\\\\"}\\",\\"error_type\\":\\"PluginInvokeError\\"}","data":null}')
@example(status=200, body=b'{"code":0,"message":"\xff","data":1}')
def test_envelope_decoding_raises_only_module_errors(status, body):
    response = dpc.Response(status, {"content-type": "application/json"}, body, "GET",
                            "http://127.0.0.1:5002/x")
    try:
        data = dpc._decode_envelope(response, "GET /x")
    except dpc.DifyPluginError as error:
        str(error), repr(error)
        if isinstance(error, dpc.PluginDaemonError):
            assert isinstance(error.code, int) and error.code != 0
        return
    envelope = json.loads(body)
    assert 200 <= status < 300 and envelope["code"] == 0 and data == envelope.get("data")


@_settings(200)
@given(text=st.one_of(_envelope_bytes().map(lambda b: b.decode("utf-8", "replace")),
                      st.text(max_size=100)))
def test_stream_event_decoding_raises_only_module_errors(text):
    try:
        message = dpc._event_reader(dpc.ToolInvokeMessage)(text, "POST /x")
    except dpc.DifyPluginError as error:
        str(error)
        return
    assert isinstance(message, dpc.ToolInvokeMessage)
    message.to_dict()


def _outcome(read, text):
    """What reading ``text`` gave: the chunk's dict, or the class and text of the error."""
    try:
        return read(text, "POST /tts").to_dict()
    except dpc.DifyPluginError as error:
        return type(error), str(error)


_HEX = st.text(alphabet="0123456789abcdefABCDEF", max_size=64)
_TTS_EVENT = st.builds(
    lambda code, message, result, rest: '{"code":%s,"message":%s,"data":{"result":%s%s}}' % (
        code, json.dumps(message), result, rest),
    st.sampled_from(["0", "0", "0", "1"]),  # an error event of the same length as a success
    st.sampled_from(["success", "", 'a"b', "\\", "\u00e9"]),
    st.one_of(_HEX.map(json.dumps), st.text(max_size=20).map(json.dumps),
              _HEX.map(lambda h: '"%s\\u0030"' % h), st.just('"ab"'), st.just("1")),
    st.sampled_from(["", ',"mime_type":"audio/mpeg"', ',"mime_type":"audio/wave"',
                     ',"mime_type":""', ',"mime_type":3',
                     ',"result":"cd"',
                     ',"result":""', '}', ',"x":{"result":"ef"}']))


@_settings(300)
@given(texts=st.lists(st.one_of(_TTS_EVENT, _TTS_EVENT.map(lambda t: t[:len(t) // 2]),
                                st.text(max_size=100)), min_size=1, max_size=6))
@example(texts=['{"code":0,"message":"success","data":{"result":"ab"}}',
                '{"code":0,"message":"success","data":{"result":"a"b"}}'])
@example(texts=['{"code":0,"message":"","data":{"result":"ab","mime_type":""}}',
                '{"code":0,"message":"","data":{"result":"cd","mime_type":""}}'])
@example(texts=['{"code":0,"message":"","data":{"result":"ab","mime_type":"audio/mpeg"}}',
                '{"code":0,"message":"","data":{"result":"cd","mime_type":"audio/wave"}}'])
@example(texts=['{"code":0,"message":"","data":{"result":"ab"}}',
                '{"code":1,"message":"","data":{"result":"cd"}}'])
def test_the_quick_tts_reader_reads_every_event_as_the_usual_one(texts):
    """The TTS reader cuts the hex out of the daemon's form of an event and remembers
    the rest; whatever the texts, one after another it gives what the usual event
    reader gives: the same chunk or the same error."""
    usual = dpc._event_reader(dpc._TTSChunk)
    quick = dpc._tts_chunk_reader()
    for text in texts:
        assert _outcome(quick, text) == _outcome(usual, text)


@_settings(300)
@given(events=st.lists(st.tuples(st.one_of(_TTS_EVENT, _TTS_EVENT.map(lambda t: t[:len(t) // 2]),
                                           st.text(max_size=100)),
                                 st.sampled_from(["text", "bytes", "bytes with a bad byte"])),
                       min_size=1, max_size=6))
@example(events=[('{"code":0,"message":"","data":{"result":"ab"}}', "text"),
                 ('{"code":0,"message":"","data":{"result":"cd"}}', "bytes")])
@example(events=[('{"code":0,"message":"","data":{"result":"ab","mime_type":"audio/mpeg"}}',
                  "bytes"),
                 ('{"code":0,"message":"","data":{"result":"cd","mime_type":"audio/wave"}}',
                  "bytes")])
@example(events=[('{"code":0,"message":"","data":{"result":"ab"}}', "bytes"),
                 ('{"code":1,"message":"","data":{"result":"cd"}}', "bytes")])
@example(events=[('{"code":0,"message":"\u00e9","data":{"result":"ab"}}', "bytes"),
                 ('{"code":0,"message":"\u00e9","data":{"result":"c"}}', "bytes")])
def test_the_quick_tts_reader_reads_undecoded_events_as_the_usual_one(events):
    """Handed an event's bytes as they came (a memoryview, as the parser hands long
    lines over), the TTS reader gives what the usual reader gives for the event's
    text, before and after it learned the form; bytes that are not UTF-8 raise."""
    usual = dpc._event_reader(dpc._TTSChunk)
    quick = dpc._tts_chunk_reader()
    for text, form in events:
        if form == "text":
            assert _outcome(quick, text) == _outcome(usual, text)
            continue
        raw = text.encode("utf-8")
        if form == "bytes with a bad byte":  # (the stream makes it an InvalidResponseError)
            raw = raw[:len(raw) // 2] + b"\xff" + raw[len(raw) // 2:]
            with pytest.raises(UnicodeDecodeError):
                quick(memoryview(raw), "POST /x")
            continue
        assert _outcome(quick, memoryview(raw)) == _outcome(usual, text)


def test_the_quick_tts_reader_takes_the_daemons_form_without_the_json_scanner(monkeypatch):
    """In the daemon's form the hex never reaches the JSON scanner (the reason the quick
    reader exists): the scanner only sees the event with its hex cut out."""
    seen = []
    scan = dpc._json_scanner()
    monkeypatch.setattr(dpc, "_json_scan", [lambda text, index: seen.append(text) or
                                            scan(text, index)])
    hex_audio = "00ff" * 1000
    event = ('{"code":0,"message":"success","data":{"result":"%s","mime_type":"audio/mpeg"}}'
             % hex_audio)
    read = dpc._tts_chunk_reader()
    chunk = read(event, "POST /tts")
    assert (chunk.result, chunk.mime_type) == (bytes.fromhex(hex_audio), "audio/mpeg")
    assert seen and all(hex_audio not in text for text in seen)
    # the next event, as its bytes, is made from the form learned: not scanned at all
    seen.clear()
    other = event.replace("00ff", "ab12").encode()
    chunk = read(memoryview(other), "POST /tts")
    assert (chunk.result, chunk.mime_type) == (b"\xab\x12" * 1000, "audio/mpeg")
    assert seen == []


_BASE64 = st.one_of(st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode()),
                    st.text(alphabet="ABCab+/=", max_size=12))
_BLOB_EVENT = st.builds(
    lambda message, kind, blob, rest, pad: (
        '{"code":0,"message":%s,"data":{"type":"%s","message":{"blob":%s%s},"meta":null}}'
        % (json.dumps(message), kind, blob, rest)) + pad,
    st.sampled_from(["success", "", 'a"b']),
    st.sampled_from(["blob", "blob_chunk", "text"]),
    st.one_of(_BASE64.map(json.dumps), _BASE64.map(lambda b: '"%s\\/"' % b),
              st.just('""'), st.just("1"), st.just("null")),
    st.sampled_from(["", ',"end":false,"id":"x","sequence":0,"total_length":3',
                     ',"end":true,"id":"x"', ',"id":3', ',"blob":"QQ=="', '}']),
    st.sampled_from(["", " " * 600]))  # the quick way only looks at long events


@_settings(300)
@given(text=st.one_of(_BLOB_EVENT, _BLOB_EVENT.map(lambda t: t[:len(t) // 2]),
                      st.text(max_size=100)))
@example(text='{"code":0,"message":"success","data":{"type":"blob_chunk","message":{"blob":"'
         + "QUJD" * 200 + '","end":false,"id":"x","sequence":0,"total_length":3},"meta":null}}')
def test_the_quick_message_reader_reads_every_event_as_the_usual_one(text):
    """Message streams cut the base64 of blob pieces out of the daemon's form; whatever
    the text, the chunk or error is the one the usual event reader gives."""
    usual = dpc._event_reader(dpc.ToolInvokeMessage)
    quick = dpc._message_event_reader(dpc.ToolInvokeMessage)
    assert _outcome(quick, text) == _outcome(usual, text)


def test_the_quick_message_reader_takes_the_daemons_form_without_the_json_scanner(monkeypatch):
    seen = []
    scan = dpc._json_scanner()
    monkeypatch.setattr(dpc, "_json_scan", [lambda text, index: seen.append(text) or
                                            scan(text, index)])
    encoded = base64.b64encode(bytes(range(256)) * 8).decode()
    event = ('{"code":0,"message":"success","data":{"type":"blob_chunk","message":{"blob":"%s",'
             '"end":false,"id":"b1","sequence":0,"total_length":2048},"meta":null}}' % encoded)
    chunk = dpc._message_event_reader(dpc.ToolInvokeMessage)(event, "POST /x")
    assert (chunk.type, chunk.message.blob, chunk.message.id) == ("blob_chunk",
                                                                   bytes(range(256)) * 8, "b1")
    assert seen and all(encoded not in text for text in seen)


# --- entities: mutations of real daemon documents ------------------------------

_NOW = "2024-05-06T07:08:09.123456789Z"
_UID = "acme/echo:0.0.1@" + "a" * 64
_TASK = {"id": "0190c9a6-0000-7000-8000-000000000001", "created_at": _NOW, "updated_at": _NOW,
         "status": "running", "tenant_id": "6f1c2d3e-0000-4000-8000-000000000000",
         "total_plugins": 2, "completed_plugins": 1,
         "plugins": [{"plugin_unique_identifier": _UID, "plugin_id": "acme/echo",
                      "status": "success", "message": "ok", "icon": "i.svg", "icon_dark": "",
                      "labels": {"en_US": "Echo", "zh_Hans": "x"}, "source": "package"},
                     {"plugin_unique_identifier": _UID, "plugin_id": "acme/echo",
                      "status": "pending", "message": "", "icon": "", "icon_dark": "",
                      "labels": {"en_US": "Echo"}, "source": "package"}]}
_DECLARATION = {
    "version": "0.0.1", "type": "plugin", "author": "acme", "name": "echo",
    "label": {"en_US": "Echo"}, "description": {"en_US": "d"}, "icon": "icon.svg",
    "icon_dark": "", "resource": {"memory": 268435456, "permission": {"tool": {"enabled": True}}},
    "plugins": {"tools": ["provider/echo.yaml"], "models": None},
    "meta": {"version": "0.0.1", "arch": ["amd64"], "runner": {
        "language": "python", "version": "3.12", "entrypoint": "main"},
        "minimum_dify_version": None},
    "created_at": _NOW, "privacy": "PRIVACY.md", "repo": "", "verified": False,
    "tags": ["utilities"], "tool": {
        "identity": {"author": "acme", "name": "echo", "label": {"en_US": "Echo"},
                     "description": {"en_US": "d"}, "icon": "icon.svg", "tags": ["utilities"]},
        "credentials_schema": [{"name": "api_key", "type": "secret-input", "required": True,
                                "options": [{"value": "us", "label": {"en_US": "US"}}]}],
        "oauth_schema": None,
        "tools": [{"identity": {"author": "acme", "name": "echo", "label": {"en_US": "Echo"}},
                   "description": {"human": {"en_US": "h"}, "llm": "l"},
                   "parameters": [{"name": "count", "type": "number", "min": 1, "max": 10,
                                   "default": 3, "options": [], "required": False,
                                   "form": "form", "precision": 0}],
                   "output_schema": {"type": "object"}, "has_runtime_parameters": False}]},
    "model": None, "endpoint": None, "agent_strategy": None, "datasource": None,
    "trigger": None}
_DECODE = {"unique_identifier": _UID, "manifest": _DECLARATION,
           "verification": {"authorized_category": "langgenius"}}
_LIST = {"total": 1, "list": [{
    "id": "0190c9a6-0000-7000-8000-000000000002", "created_at": _NOW, "updated_at": _NOW,
    "name": "echo", "plugin_id": "acme/echo", "tenant_id": "6f1c2d3e-0000-4000-8000-000000000000",
    "plugin_unique_identifier": _UID, "installation_id": "0190c9a6-0000-7000-8000-000000000003",
    "version": "0.0.1", "checksum": "a" * 64, "runtime_type": "local", "source": "package",
    "meta": {}, "endpoints_setups": 0, "endpoints_active": 0, "declaration": _DECLARATION}]}
_MESSAGES = [
    {"type": "text", "message": {"text": "hi"}, "meta": None},
    {"type": "json", "message": {"json_object": {"a": [1, 2]}, "suppress_output": False},
     "meta": None},
    {"type": "json", "message": {"a": 1}, "meta": {}},
    {"type": "blob", "message": {"blob": base64.b64encode(b"\x00\x01").decode()},
     "meta": {"mime_type": "application/octet-stream"}},
    {"type": "blob_chunk", "message": {"id": "b1", "sequence": 0, "total_length": 2,
                                       "blob": "AAE=", "end": False}, "meta": None},
    {"type": "link", "message": {"text": "https://example.com"}, "meta": None},
    {"type": "variable", "message": {"variable_name": "v", "variable_value": [1],
                                     "stream": False}, "meta": None},
    {"type": "log", "message": {"id": "l", "label": "step", "parent_id": None, "error": None,
                                "status": "success", "data": {}, "metadata": None},
     "meta": None},
    {"type": "retriever_resources", "message": {"retriever_resources": [{"a": 1}],
                                                "context": "c"}, "meta": None},
    {"type": "file", "message": {"file": "x"}, "meta": None},
    {"type": "brand_new", "message": {"x": 1}, "meta": None},
]
_TIMESTAMPS = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: "%04d-%02d-%02d%s%02d:%02d:%02d%s%s" % (
        y, mo, d, "T", h, mi, s, frac, zone),
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
    st.integers(0, 61), st.integers(0, 61), st.sampled_from(["", ".1", ".123456789", "."]),
    # offsets of 24 h or more are a known bug: see test_timestamp_offset_over_a_day
    st.one_of(st.sampled_from(["Z", "z", "", "+00:00", "-23:59", "+05:30"]),
              st.builds(lambda sign, h, m: "%s%02d:%02d" % (sign, h, m),
                        st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59))))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            for path in _paths(value, prefix + (key,)):
                yield path
    elif isinstance(node, list):
        for index, value in enumerate(node):
            for path in _paths(value, prefix + (index,)):
                yield path


@st.composite
def _mutated(draw, base):
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        if not path:
            doc = draw(st.one_of(_JSON, st.just(doc)))
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "null", "stamp", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "null":
            parent[path[-1]] = None
        elif action == "stamp":
            parent[path[-1]] = draw(_TIMESTAMPS)
        elif action == "add" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(max_size=6))] = draw(_JSON)
        else:
            parent[path[-1]] = draw(_JSON)
    return doc


_ENTITY_CASES = [
    (dpc.PluginInstallTask, _TASK),
    (dpc.PluginListResponse, _LIST),
    (dpc.PluginDecodeResponse, _DECODE),
    (dpc.PluginDeclaration, _DECLARATION),
] + [(dpc.ToolInvokeMessage, message) for message in _MESSAGES]


def test_entity_bases_round_trip():
    """Each base document parses, and its entity's to_dict() parses back to an equal
    entity that keeps every key of the document."""
    for cls, base in _ENTITY_CASES:
        entity = cls.from_dict(copy.deepcopy(base))
        dumped = entity.to_dict()
        assert set(base) <= set(dumped), (cls.__name__, set(base) - set(dumped))
        assert cls.from_dict(dumped) == entity, cls.__name__


@_settings(400)
@given(case=st.sampled_from(_ENTITY_CASES), data=st.data())
def test_entities_from_dict_raise_only_module_errors(case, data):
    cls, base = case
    doc = data.draw(st.one_of(_mutated(base), _JSON))
    try:
        entity = cls.from_dict(doc)
    except dpc.DifyPluginError as error:
        assert isinstance(error, dpc.ResponseValidationError), error
        str(error)
        return
    json.dumps(entity.to_dict(), default=str)


# =============================================================================
# Parameter casting: only ToolParameterError
# =============================================================================

_TYPES = ["string", "secret-input", "text-input", "number", "boolean", "checkbox", "select",
          "file", "files", "array", "object", "app-selector", "model-selector", "any", "date",
          "dynamic-select", ""]


class _Opaque(object):
    def __repr__(self):
        return "<opaque>"


# Exotic Python values appear only at the top level: nested inside a dict or list they
# hit a known bug of _cast_text (see test_cast_text_with_nested_non_json_value).
_EXOTIC = st.one_of(st.binary(max_size=4), st.just(b""), st.builds(decimal.Decimal, st.integers()),
                    st.tuples(st.integers()), st.frozensets(st.integers(), max_size=2),
                    st.just(datetime.datetime(2024, 1, 1)), st.builds(_Opaque),
                    st.complex_numbers(allow_nan=True), st.sampled_from([float("nan"),
                                                                          float("inf")]))
_PARAM_VALUES = st.one_of(
    _JSON, _EXOTIC,
    st.sampled_from(["1", " 2.5 ", "1e3", "-0", "+.5", "abc", "", "true", "No", " on ", "0",
                     "[1, 2]", "[", "{\"a\": 1}", "{", "null", "1e999", "nan", "\u0661"]),
    st.text(max_size=10))


@st.composite
def _declaration(draw):
    names = draw(st.lists(st.text(min_size=1, max_size=6), min_size=0, max_size=6, unique=True))
    parameters = []
    for name in names:
        parameter = {"name": name, "type": draw(st.sampled_from(_TYPES))}
        if draw(st.booleans()):
            parameter["required"] = draw(st.booleans())
        if draw(st.integers(0, 2)) == 0:
            parameter["default"] = draw(_JSON)
        for bound in ("min", "max"):
            if draw(st.integers(0, 2)) == 0:
                parameter[bound] = draw(st.one_of(st.integers(-10, 10), st.floats(-10, 10)))
        if draw(st.integers(0, 2)) == 0:
            parameter["options"] = [{"value": value} for value in draw(st.lists(
                st.one_of(st.text(max_size=3), st.integers(-3, 3)), max_size=3))]
        if draw(st.booleans()):
            parameter["multiple"] = draw(st.booleans())
        parameters.append(parameter)
    return {"identity": {"name": "t"}, "parameters": parameters}, names


@_settings(300)
@given(declaration=_declaration(), data=st.data())
def test_casting_raises_only_tool_parameter_error(declaration, data):
    raw, names = declaration
    tool = dpc.ToolDeclaration.from_dict(raw)
    keys = st.one_of(st.sampled_from(names), st.text(max_size=4)) if names else st.text(
        max_size=4)
    values = data.draw(st.dictionaries(keys, _PARAM_VALUES, max_size=8))
    try:
        result = dpc._cast_parameters(tool, values, "tool 't'")
    except dpc.ToolParameterError as error:
        assert error.problems and all(name in names for name, _, _ in error.problems)
        str(error)
        return
    for key, value in values.items():  # undeclared parameters pass through untouched
        if key not in names:
            assert result[key] is value
    for parameter in tool.parameters:
        value = result.get(parameter.name)
        if value is None:
            assert not parameter.required or parameter.default is not None
            continue
        kind = parameter.type
        if kind in ("string", "secret-input", "text-input"):
            assert isinstance(value, str)
        elif kind == "number":
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
            assert value == value and abs(value) != float("inf")
            assert parameter.min is None or value >= parameter.min
            assert parameter.max is None or value <= parameter.max
        elif kind in ("boolean", "checkbox"):
            assert isinstance(value, bool)
        elif kind == "select":
            allowed = [option.value for option in parameter.options]
            for item in value if parameter.multiple else [value]:
                assert isinstance(item, str) and (not allowed or item in allowed)
        elif kind == "file":
            assert isinstance(value, dict)
        elif kind in ("files", "array"):
            assert isinstance(value, list)
        elif kind == "object":
            assert isinstance(value, dict)


# =============================================================================
# Regression tests: edge cases the properties above found (each was a bug)
# =============================================================================

def _deep(depth, opener="[", closer="]"):
    return opener * depth + closer * depth


def _raised(function, *args):
    """The class of what ``function(*args)`` raised, or None. The exception itself is
    dropped here, so pytest never formats a thousand-frame RecursionError traceback."""
    try:
        function(*args)
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        return type(exc)
    return None


def _assert_module_error(raised, expected):
    assert raised is None or issubclass(raised, expected), (
        "%s escaped; expected %s" % (raised.__name__, expected.__name__))


def test_envelope_deeply_nested_body():
    response = dpc.Response(200, {}, _deep(100000).encode(), "GET", "http://h/x")
    raised = _raised(dpc._decode_envelope, response, "GET /x")
    assert raised is not None
    _assert_module_error(raised, dpc.InvalidResponseError)


def test_envelope_deeply_nested_error_message():
    body = json.dumps({"code": -500, "message": '{"message":' * 100000}).encode()
    response = dpc.Response(200, {}, body, "GET", "http://h/x")
    raised = _raised(dpc._decode_envelope, response, "GET /x")
    assert raised is not None  # a -500 envelope is an error, whatever its message
    _assert_module_error(raised, dpc.PluginDaemonError)


def test_stream_event_deeply_nested():
    raised = _raised(dpc._event_reader(dpc.ToolInvokeMessage), _deep(100000), "POST /x")
    assert raised is not None
    _assert_module_error(raised, dpc.InvalidResponseError)


@pytest.mark.parametrize("stamp", ["2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00-23:60"])
def test_timestamp_offset_over_a_day(stamp):
    raised = _raised(dpc.PluginInstallTask.from_dict,
                     {"id": "t", "status": "pending", "created_at": stamp})
    assert raised is not None
    _assert_module_error(raised, dpc.ResponseValidationError)


def _tool(*parameters):
    return dpc.ToolDeclaration.from_dict({"identity": {"name": "t"},
                                          "parameters": list(parameters)})


def test_cast_number_with_a_very_long_digit_string():
    raised = _raised(dpc._cast_parameters, _tool({"name": "n", "type": "number", "max": 10}),
                     {"n": "1" * 5000}, "t")
    assert raised is not None
    _assert_module_error(raised, dpc.ToolParameterError)


@pytest.mark.parametrize("value", [{"a": b"x"}, [{1, 2}], {(1, 2): 1}, [datetime.date(2024, 1, 1)]],
                         ids=["bytes", "set", "tuple-key", "date"])
def test_cast_text_with_nested_non_json_value(value):
    raised = _raised(dpc._cast_parameters, _tool({"name": "s", "type": "string"}), {"s": value},
                     "t")
    assert raised is not None
    _assert_module_error(raised, dpc.ToolParameterError)


@pytest.mark.parametrize("kind,text", [("array", _deep(100000)),
                                       ("object", '{"a":' * 100000)])
def test_cast_deeply_nested_json_text(kind, text):
    raised = _raised(dpc._cast_parameters, _tool({"name": "v", "type": kind}), {"v": text}, "t")
    assert raised is not None  # neither text is a JSON value
    _assert_module_error(raised, dpc.ToolParameterError)


def test_refs_deep_data_keyword():
    deep = []
    node = deep
    for _ in range(5000):
        child = []
        node.append(child)
        node = child
    schema = {"$ref": "#/$defs/a", "$defs": {"a": {"type": "array"}}, "default": deep}
    assert _raised(dpc._resolve_refs, schema) is None


def test_multipart_filename_with_surrogate_escape():
    upload = dpc._UploadSource.open(b"PK", "pkg", 100)
    name = os.fsdecode(b"plugin-\xff.difypkg")
    raised = _raised(dpc._MultipartBody, [("verify_signature", "false")], "dify_pkg", name,
                     upload)
    assert raised is None


def _quoted_param(header, name):
    """A quoted-string parameter read as Go's mime.ParseMediaType (consumeValue) reads it:
    a backslash before a tspecial quotes it; None if the value is not well formed."""
    start = header.find('; %s="' % name)
    if start < 0:
        return None
    value, index = [], start + len('; %s="' % name)
    while index < len(header):
        char = header[index]
        if char == '"':
            return "".join(value)
        if char == "\\" and index + 1 < len(header) and header[index + 1] in '()<>@,;:\\"/[]?=':
            index += 1
            char = header[index]
        value.append(char)
        index += 1
    return None  # no closing quote: Go answers "mime: invalid media parameter"


def test_multipart_filename_ending_in_backslash():
    upload = dpc._UploadSource.open(b"PK", "pkg", 100)
    body = dpc._MultipartBody([], "dify_pkg", "plugin\\", upload)
    data = b"".join(body.blocks())
    header = data.split(b"\r\n")[1].decode("utf-8")
    assert header.startswith("Content-Disposition: form-data")
    assert _quoted_param(header, "filename") is not None


def test_refs_siblings_of_a_circular_ref_are_resolved():
    schema = {"$defs": {
        "node": {"type": "object", "properties": {
            "next": {"$ref": "#/$defs/node", "items": {"$ref": "#/$defs/leaf"}}}},
        "leaf": {"type": "string"}}}
    resolved = dpc._resolve_refs(schema)
    marked = resolved["$defs"]["node"]["properties"]["next"]["properties"]["next"]
    assert marked["$circular_ref"] is True
    assert marked["items"] == {"type": "string"}
