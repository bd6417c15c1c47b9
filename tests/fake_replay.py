"""Replay the real daemon's recorded client calls against the fake daemon.

``tests/transcripts/<release>/`` holds what a real daemon answered to this client (see the
README there).  :func:`replay_release` sends every recorded request again, in the order
the recording proxy saw them (``seq``), to a :class:`~fake_daemon.FakeDaemon` configured as
that release, and compares each answer with the recorded one (:func:`compare`).
``test_transcripts_fake.py`` turns the comparisons into tests.

Requests
    Raw HTTP with http.client: the recorded method, target (path and query as recorded),
    headers in order (the key is this fake's key, or another key of the recorded length)
    and body.  Ids that cannot be the same on the fake are substituted (:class:`IdMap`):
    each recorded tenant maps to a fresh UUID; task ids, installation ids, package
    checksums and asset ids map to what the fake answered at the same place of an earlier
    answer (bound while that answer was compared, one to one).

Uploads
    The recordings keep only the length and sha256 of an upload's payload, so each payload
    is rebuilt (:class:`Payloads`, :data:`BUILDS`) with tests/e2e/build_plugin.py: byte for
    byte where the recorded sha256 is reproduced (checked on every use), or with the same
    files in another zip; the daemon's checksums and asset ids of those packages must then
    come out exactly as recorded.  Otherwise an equivalent payload is built (e2e_broken,
    whose recorded requirements line is not known; the held-out ``wordsmith`` plugin,
    rebuilt from its recorded manifest and readme; the corrupt and oversized uploads) and
    its identifier is mapped like any other id.

What the fake is told (the recording's environment, not the daemon's behaviour)
    * Install timing: the fake runs with ``install_delay=None`` (jobs finish when told).
      Before each request every started job is finished, except those of tasks that a
      later recorded answer still shows ``running``: polls see the recorded sequence.
    * The plugins' own code: ``echo_types`` / ``raise_error`` (tests/e2e/plugin) and the
      wordsmith tools are emulated by tool handlers; ``e2e_broken``'s dependency install
      fails with the message uv printed in the recording.
    * Prior state: the recording daemon had run the wordsmith package before the first
      recorded request (``s15`` installs it with ``all_installed: true``); a tenant that
      never appears in the recording has it installed before the replay starts.

Comparison (:func:`compare`), per exchange
    HTTP status; framing (chunked or Content-Length) and Content-Type; the envelope's
    ``code``; ``error_type`` and message text of its JSON-in-JSON message (the recording's
    path placeholders ``$STATE``/``$HOME``/``$PKGS`` match any path); the ``data``: same
    keys in the same order, JSON types and list lengths, recursively, and the same values,
    except that ids must map one to one (see above) and times only need Go's time format.
    Streams: the sequence of events with each one's code, message ``type`` and the shape
    of its data (the plugin's output values are the emulation's, so not compared), and an
    error event's error types, message and the keys of its args.  ``/health/check``: the
    counters and the version stamp depend on the daemon process and build (the recorded
    build reports ``""``), so only their types are compared.
"""

import base64
import hashlib
import http.client
import io
import json
import os
import re
import sys
import uuid
import zipfile

import yaml

import transcript_replay as tr
from fake_daemon import FakeDaemon, FakePluginError, blob_chunks, package_identifier

E2E_DIR = os.path.join(tr.TESTS_DIR, "e2e")
if E2E_DIR not in sys.path:
    sys.path.insert(0, E2E_DIR)

import build_plugin  # noqa: E402

KEY = "fake-replay-key-0123"
RELEASES = ("0.6.10", "0.5.4")
#: A tenant that never appears in the recordings: holds the prior state (wordsmith).
PRIOR_TENANT = "00000000-0000-4000-8000-000000000001"

TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")
#: Ids that differ between the recording and the fake: UUIDs and 64-hex checksums
#: (package checksums, asset ids).
#: (An id may follow a percent-encoded "@" or "/" in a recorded query.)
TOKEN_RE = re.compile(r"(?:(?<=%40)|(?<=%2F)|(?<![0-9a-f]))"
                      r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{64})"
                      r"(?![0-9a-f])")
PLACEHOLDER_RE = re.compile(r"\$(?:STATE|HOME|PKGS)\b")
#: /health/check values set by the daemon process and its build, not by its behaviour.
HEALTH_VOLATILE = frozenset(["active_dispatch_requests", "active_requests", "pool_status.free",
                             "pool_status.busy", "pool_status.total", "version"])


def release_exchanges(release):
    """Every exchange of the release's client-call folder, in recording order (``seq``)."""
    items = [x for exchanges in tr.load_release(release).values() for x in exchanges]
    seqs = [x.raw.get("seq") for x in items]
    if None in seqs or len(set(seqs)) != len(seqs):
        raise AssertionError("%s: every exchange needs a distinct seq" % release)
    return sorted(items, key=lambda x: x.raw["seq"])


# =============================================================================
# Ids
# =============================================================================


class IdMap(object):
    """Recorded id -> the fake's id, one to one; ``fixed`` ids must come out unchanged."""

    def __init__(self, release):
        self.rec2fake = {}
        self.fake2rec = {}
        self.fixed = set()
        for tenant in tr.recorded_tenants(release):
            self.bind(tenant, str(uuid.uuid4()))

    def bind(self, recorded, fake):
        """Record the pair; returns a problem text when it contradicts an earlier pair."""
        if recorded in self.fixed and fake != recorded:
            return "%s should come out as recorded (package rebuilt with its files), got %s" % (recorded, fake)
        known = self.rec2fake.get(recorded)
        if known is not None:
            return None if known == fake else "%s maps to %s already, got %s" % (recorded, known, fake)
        other = self.fake2rec.get(fake)
        if other is not None and other != recorded:
            return "the fake's %s stands for %s already, recorded %s here" % (fake, other, recorded)
        self.rec2fake[recorded] = fake
        self.fake2rec[fake] = recorded
        return None

    def fix(self, token):
        self.fixed.add(token)
        self.rec2fake.setdefault(token, token)
        self.fake2rec.setdefault(token, token)

    def apply(self, text):
        """``text`` with every bound recorded id replaced by the fake's."""
        return TOKEN_RE.sub(lambda m: self.rec2fake.get(m.group(0), m.group(0)), text)

    def fake_of(self, recorded):
        return self.rec2fake.get(recorded)


def match_text(recorded, fake, ids):
    """Compare one string; unbound ids in ``recorded`` bind to the fake's.  Problem or None."""
    if recorded == fake and not TOKEN_RE.search(recorded):
        return None
    pattern, tokens = [], []
    position = 0
    for found in TOKEN_RE.finditer(recorded):
        pattern.append(_literal(recorded[position:found.start()]))
        token = found.group(0)
        if token in ids.rec2fake:
            pattern.append(re.escape(ids.rec2fake[token]))
        else:
            pattern.append("(%s)" % TOKEN_RE.pattern)
            tokens.append(token)
        position = found.end()
    pattern.append(_literal(recorded[position:]))
    match = re.fullmatch("".join(pattern), fake, re.S)
    if match is None:
        return "%s, recorded %s" % (_short(fake), _short(recorded))
    for token, value in zip(tokens, match.groups()):
        problem = ids.bind(token, value)
        if problem:
            return problem
    return None


def _literal(text):
    """A regex for recorded text: the recording's path placeholders match any path."""
    out, position = [], 0
    for found in PLACEHOLDER_RE.finditer(text):
        out.append(re.escape(text[position:found.start()]))
        out.append(r"\S*?")
        position = found.end()
    out.append(re.escape(text[position:]))
    return "".join(out)


def _short(value, limit=160):
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# =============================================================================
# Comparison
# =============================================================================


def jtype(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def compare_values(recorded, fake, path, ids, problems, values=True, volatile=frozenset(), rel=""):
    """Shape (keys and their order, JSON types, list lengths) and, when ``values``, the values."""
    if jtype(recorded) != jtype(fake):
        problems.append("%s: %s %s, recorded %s %s" % (path, jtype(fake), _short(fake, 80),
                                                      jtype(recorded), _short(recorded, 80)))
        return
    if isinstance(recorded, dict):
        missing = [k for k in recorded if k not in fake]
        extra = [k for k in fake if k not in recorded]
        if missing:
            problems.append("%s: keys missing: %s" % (path, ", ".join(missing)))
        if extra:
            problems.append("%s: keys not recorded: %s" % (path, ", ".join(extra)))
        if not missing and not extra and list(fake) != list(recorded):
            problems.append("%s: key order %s, recorded %s" % (path, list(fake), list(recorded)))
        for name in recorded:
            if name in fake:
                compare_values(recorded[name], fake[name], "%s.%s" % (path, name), ids, problems, values,
                               volatile, (rel + "." + name) if rel else name)
        return
    if isinstance(recorded, list):
        if len(recorded) != len(fake):
            problems.append("%s: %d items, recorded %d" % (path, len(fake), len(recorded)))
        for index, (rec_item, fake_item) in enumerate(zip(recorded, fake)):
            compare_values(rec_item, fake_item, "%s[%d]" % (path, index), ids, problems, values,
                           volatile, rel)
        return
    if not values or rel in volatile:
        return
    if isinstance(recorded, str):
        if TIME_RE.match(recorded):
            if not TIME_RE.match(fake):
                problems.append("%s: %r is not a time like the recorded %r" % (path, fake, recorded))
            return
        problem = match_text(recorded, fake, ids)
        if problem:
            problems.append("%s: %s" % (path, problem))
    elif recorded != fake:
        problems.append("%s: %s, recorded %s" % (path, _short(fake), _short(recorded)))


def compare_error(recorded, fake, where, ids, problems):
    """The error_type, message and args keys of every layer of an error envelope's message."""
    fields = ("error_type", "message", "args")
    rec_layers, fake_layers = tr.error_layers(recorded, fields), tr.error_layers(fake, fields)
    if len(rec_layers) != len(fake_layers):
        problems.append("%s: message has %d JSON layers, recorded %d: %s" % (
            where, len(fake_layers), len(rec_layers), _short(fake)))
        return
    for depth, (rec, got) in enumerate(zip(rec_layers, fake_layers)):
        label = "%s (layer %d)" % (where, depth + 1)
        if got[0] != rec[0]:
            problems.append("%s: error_type %r, recorded %r" % (label, got[0], rec[0]))
        if depth == len(rec_layers) - 1:
            problem = match_text(rec[1], got[1], ids) if isinstance(rec[1], str) and isinstance(
                got[1], str) else (None if rec[1] == got[1] else "%r, recorded %r" % (got[1], rec[1]))
            if problem:
                problems.append("%s: message %s" % (label, problem))
        compare_values(rec[2], got[2], label + ".args", ids, problems, values=False)


def compare_envelope(recorded, fake, ids, problems, health=False):
    if health or not (isinstance(recorded, dict) and "code" in recorded):
        compare_values(recorded, fake, "body", ids, problems,
                       volatile=HEALTH_VOLATILE if health else frozenset())
        return
    if not isinstance(fake, dict):
        problems.append("body: %s, recorded an envelope" % _short(fake))
        return
    if sorted(fake) != sorted(recorded):
        problems.append("envelope keys %s, recorded %s" % (sorted(fake), sorted(recorded)))
    if fake.get("code") != recorded.get("code"):
        problems.append("code %r, recorded %r" % (fake.get("code"), recorded.get("code")))
    code = recorded.get("code")
    if isinstance(code, int) and code != 0:
        compare_error(recorded.get("message"), fake.get("message"), "error", ids, problems)
    elif fake.get("message") != recorded.get("message"):
        problems.append("message %r, recorded %r" % (fake.get("message"), recorded.get("message")))
    if "data" in recorded:
        compare_values(recorded["data"], fake.get("data"), "data", ids, problems)


def parse_events(body):
    """The ``data:`` payloads of an event stream, decoded."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        lines = [line[len("data: "):] for line in block.split("\n") if line.startswith("data: ")]
        if lines:
            events.append(json.loads("\n".join(lines)))
    return events


def _event_kind(event):
    if event.get("code") != 0:
        return "error(%s)" % event.get("code")
    data = event.get("data")
    return data.get("type") if isinstance(data, dict) else jtype(data)


def compare_stream(recorded_events, fake_events, ids, problems):
    rec_kinds = [_event_kind(e) for e in recorded_events]
    fake_kinds = [_event_kind(e) for e in fake_events]
    if rec_kinds != fake_kinds:
        problems.append("events %s, recorded %s" % (fake_kinds, rec_kinds))
    for index, (rec, got) in enumerate(zip(recorded_events, fake_events)):
        where = "event[%d]" % index
        if sorted(got) != sorted(rec):
            problems.append("%s: envelope keys %s, recorded %s" % (where, sorted(got), sorted(rec)))
        if rec.get("code") != 0:
            if got.get("code") == rec.get("code"):
                compare_error(rec.get("message"), got.get("message"), where, ids, problems)
            continue
        compare_values(rec.get("data"), got.get("data"), where + ".data", ids, problems, values=False)


class Answer(object):
    """What the fake answered to one replayed request."""

    def __init__(self, status, reason, headers, chunked, body):
        self.status, self.reason, self.headers = status, reason, headers
        self.chunked, self.body = chunked, body

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def compare(exchange, answer, ids):
    """Every difference between the recorded answer and the fake's (``[]`` if none)."""
    recorded = exchange.response
    problems = []
    if answer.status != recorded["status"]:
        problems.append("HTTP %d, recorded %d" % (answer.status, recorded["status"]))
    if answer.chunked != bool(recorded.get("chunked")):
        problems.append("%s, recorded %s (%d bytes)" % (
            "chunked" if answer.chunked else "Content-Length", "chunked" if recorded.get("chunked")
            else "Content-Length", recorded["length"]))
    rec_type = exchange.header("Content-Type", where="response")
    if answer.header("Content-Type") != rec_type:
        problems.append("Content-Type %r, recorded %r" % (answer.header("Content-Type"), rec_type))
    if "sse_raw" in recorded:
        try:
            events = parse_events(answer.body)
        except ValueError as exc:
            return problems + ["stream unreadable: %s" % exc]
        compare_stream(recorded["sse_events"], events, ids, problems)
        return problems
    if recorded.get("json") is None:
        if answer.body.decode("utf-8", "replace") != ids.apply(recorded.get("text") or ""):
            problems.append("body %s, recorded %s" % (_short(answer.body[:200].decode("utf-8", "replace")),
                                                      _short(recorded.get("text"))))
        return problems
    try:
        body = json.loads(answer.body.decode("utf-8"))
    except ValueError:
        return problems + ["body is not JSON: %s" % _short(answer.body[:200].decode("utf-8", "replace"))]
    compare_envelope(recorded["json"], body, ids, problems, health=exchange.path == "/health/check")
    return problems


# =============================================================================
# Upload payloads
# =============================================================================

_ZIP_DATE = (2026, 1, 1, 0, 0, 0)


def zip_files(files, directories=()):
    """A deterministic .difypkg-style zip: sorted entries, deflated, fixed dates."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(list(files) + list(directories)):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            if name.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
                archive.writestr(info, b"")
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, files[name])
    return buffer.getvalue()


def _with_manifest_line(files, key, value):
    files = dict(files)
    text, count = re.subn(r"(?m)^%s: .*$" % key, "%s: %s" % (key, value),
                          files["manifest.yaml"].decode("utf-8"), count=1)
    assert count == 1, key
    files["manifest.yaml"] = text.encode("utf-8")
    return files


def broken_files():
    """The test plugin renamed e2e_broken, with a requirements.txt uv cannot parse."""
    files = _with_manifest_line(build_plugin.files("0.0.1"), "name", "e2e_broken")
    files["manifest.yaml"] = files["manifest.yaml"].replace(b"en_US: E2E Tools", b"en_US: E2E Broken", 1)
    files["requirements.txt"] = b"dify_plugin>=0.9.0,<0.10.0\n!!! not a requirement\n"
    return files


def wordsmith_files(release):
    """The held-out wordsmith plugin, rebuilt from its recorded manifest and readme."""
    answer = tr.exchange(release, "s02_upload_pkg", 6).response_json["data"]["manifest"]
    readme = tr.exchange(release, "s15_wordsmith", 7).response_json["data"]["content"]
    provider = answer["tool"]
    tool_paths = ["tools/%s.yaml" % t["identity"]["name"] for t in provider["tools"]]
    manifest = dict((k, answer[k]) for k in ("version", "type", "author", "name", "label", "description",
                                              "resource", "meta", "tags", "created_at"))
    manifest.update(icon="icon.svg", plugins={"tools": ["provider/wordsmith.yaml"]})
    identity = dict(provider["identity"], icon="icon.svg")
    identity.pop("icon_dark", None)
    files = {
        "manifest.yaml": _yaml(manifest),
        "provider/wordsmith.yaml": _yaml({"identity": identity, "tools": tool_paths}),
        "_assets/icon.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"/>\n',
        "README.md": readme.encode("utf-8"),
        "main.py": b"from dify_plugin import DifyPluginEnv, Plugin\n\nPlugin(DifyPluginEnv()).run()\n",
        "requirements.txt": b"dify_plugin>=0.9.0,<0.11.0\n",
    }
    for path, tool in zip(tool_paths, provider["tools"]):
        files[path] = _yaml(tool)
    return files


def _yaml(value):
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).encode("utf-8")


def bundle_bytes():
    """A bundle: the test plugin as a package dependency, plus a marketplace and a github one."""
    manifest = {
        "name": "e2e_bundle", "version": "0.0.1", "author": "e2etest",
        "dependencies": [
            {"type": "package", "value": {"path": "e2e_tools-0.0.1.difypkg"}},
            {"type": "marketplace", "value": {"marketplace_pattern": "langgenius/openai:0.0.1"}},
            {"type": "github", "value": {"repo_pattern": "langgenius/dify-plugins:0.0.1/x.difypkg"}},
        ],
    }
    return zip_files({"manifest.yaml": _yaml(manifest),
                      "_assets/e2e_tools-0.0.1.difypkg": build_plugin.build()})


def _tools(**kw):
    return build_plugin.build(**kw)


def _author(author):
    return zip_files(_with_manifest_line(build_plugin.files(), "author", author))


def _without(name):
    files = build_plugin.files()
    del files[name]
    return zip_files(files)


def _huge_uncompressed():
    files = build_plugin.files()
    files["big.bin"] = b"\0" * (60 << 20)
    return zip_files(files)


#: Rebuilt payloads, by the first 16 hex digits of the sha256 the recording kept (one
#: entry per distinct recorded payload): (what it was, level, builder).  Level ``BYTES``:
#: the rebuilt bytes must have the recorded sha256.  ``FILES``: the same files as
#: recorded (other zip dates), so the daemon's checksum is reproduced; the recorded
#: answer's checksum must come out unchanged.  ``EQUIVALENT``: the same kind of payload.
BYTES, FILES, EQUIVALENT = "bytes", "files", "equivalent"
BUILDS = {
    "38eb992aa8791cb4": ("e2e_tools 0.0.1", BYTES, lambda r, n: _tools()),
    "0cea6bb46782d040": ("e2e_tools 0.0.1 without README", BYTES, lambda r, n: _tools(readme=False)),
    "e06906e38af93df2": ("e2e_tools 0.0.2", BYTES, lambda r, n: _tools(version="0.0.2")),
    "015ceadb2834204b": ("e2e_tools 0.0.1 cut in half", BYTES, lambda r, n: _tools()[:len(_tools()) // 2]),
    "682ba3644b787bc9": ("wordsmith 0.1.0", EQUIVALENT, lambda r, n: zip_files(wordsmith_files(r))),
    "6ab216d5a3a5931f": ("wordsmith 0.1.0", EQUIVALENT, lambda r, n: zip_files(wordsmith_files(r))),
    "38010f898a40ece3": ("e2e_broken 0.0.1", EQUIVALENT, lambda r, n: zip_files(broken_files())),
    "623975c3cf4de20c": ("e2e_broken 0.0.1", EQUIVALENT, lambda r, n: zip_files(broken_files())),
    "089c72fffbe5fed1": ("e2e_broken 0.0.1", EQUIVALENT, lambda r, n: zip_files(broken_files())),
    "a34e6ce3e102336a": ("bundle of e2e_tools 0.0.1", EQUIVALENT, lambda r, n: bundle_bytes()),
    "6814f9969f866854": ("bundle of e2e_tools 0.0.1", EQUIVALENT, lambda r, n: bundle_bytes()),
    "68c4e221fa3bd58e": ("bundle of e2e_tools 0.0.1", EQUIVALENT, lambda r, n: bundle_bytes()),
    "9c3aa18ee4487b9a": ("no manifest.yaml", EQUIVALENT, lambda r, n: _without("manifest.yaml")),
    "c2e692cfa91de9b4": ("no manifest.yaml", EQUIVALENT, lambda r, n: _without("manifest.yaml")),
    "ab9ac5b207b7dc45": ("author 'E2E Test!'", FILES, lambda r, n: _author("E2E Test!")),
    "614a530982afb74c": ("author 'E2E Test!'", FILES, lambda r, n: _author("E2E Test!")),
    "a12cf1f679f9a9ca": ("a UUID as author", EQUIVALENT, lambda r, n: _author(str(uuid.uuid4()))),
    "a61cbcf79f465354": ("a UUID as author", EQUIVALENT, lambda r, n: _author(str(uuid.uuid4()))),
    "39479be2a174fd92": ("no _assets/icon.svg", EQUIVALENT, lambda r, n: _without("_assets/icon.svg")),
    "d39fd89af881577f": ("no _assets/icon.svg", EQUIVALENT, lambda r, n: _without("_assets/icon.svg")),
    "17c21047c71dc303": ("with directory entries", EQUIVALENT,
                         lambda r, n: zip_files(build_plugin.files(), ["_assets/", "provider/", "tools/"])),
    "0d071d97dacbb656": ("with directory entries", EQUIVALENT,
                         lambda r, n: zip_files(build_plugin.files(), ["_assets/", "provider/", "tools/"])),
    "3ff7ff546ff9470a": ("51 MiB, over the size limit", EQUIVALENT, lambda r, n: b"\0" * n),
    "e6586d84dcc8fccb": ("51 MiB, over the size limit", EQUIVALENT, lambda r, n: b"\0" * n),
    "afd67b9ee926050c": ("60 MiB uncompressed", EQUIVALENT, lambda r, n: _huge_uncompressed()),
    "86c828ffd4aafad4": ("60 MiB uncompressed", EQUIVALENT, lambda r, n: _huge_uncompressed()),
    "71e7e8204aa04549": ("a Python file, not a zip", EQUIVALENT, lambda r, n: (b"# not a package\n" * n)[:n]),
}


class Payloads(object):
    """Rebuilds each recorded upload's payload (see :data:`BUILDS`), once per kind."""

    def __init__(self, release):
        self.release = release
        self._cache = {}
        self.used = {}          # sha prefix -> (what, level, rebuilt length, recorded length)

    def get(self, sha256, length):
        """(payload bytes, level) for a recorded upload of ``length`` bytes with ``sha256``."""
        prefix = sha256[:16]
        if prefix not in BUILDS:
            raise AssertionError("no rebuilt payload for a recorded upload of %d bytes, sha256 %s"
                                 % (length, sha256))
        what, level, build = BUILDS[prefix]
        if prefix not in self._cache:
            data = build(self.release, length)
            if level == BYTES and hashlib.sha256(data).hexdigest() != sha256:
                raise AssertionError("the rebuilt %s is not byte-identical to the recorded upload" % what)
            self._cache[prefix] = data
            self.used[prefix] = (what, level, len(data), length)
        return self._cache[prefix], level


# =============================================================================
# The plugins' own code (what the fake cannot run), emulated
# =============================================================================

E2E_BLOB = bytes(i % 251 for i in range(20000))


def _echo_types(request):
    """tests/e2e/plugin/tools/echo_types.py"""
    params = (request.get("data") or {}).get("tool_parameters") or {}
    out = str(params.get("text"))
    mode = params.get("mode", "keep")
    out = out.upper() if mode == "upper" else out.lower() if mode == "lower" else out
    out += str(params.get("suffix", "!"))
    pytypes = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict",
               type(None): "NoneType"}
    yield {"type": "text", "message": {"text": out}, "meta": None}
    yield {"type": "json", "meta": None, "message": {"json_object": {
        "received": dict((k, {"value": v, "type": pytypes.get(type(v), type(v).__name__)})
                         for k, v in sorted(params.items())),
        "plugin_version": "0.0.1", "blob_size": len(E2E_BLOB),
        "blob_sha256": hashlib.sha256(E2E_BLOB).hexdigest()}}}
    yield {"type": "variable", "meta": None,
           "message": {"variable_name": "echo_text", "variable_value": out, "stream": False}}
    yield {"type": "log", "meta": None, "message": {
        "id": str(uuid.uuid4()), "label": "echo_types", "parent_id": None, "error": None,
        "status": "success", "data": {"text": out, "parameter_names": sorted(params)}, "metadata": None}}
    for chunk in blob_chunks(E2E_BLOB, meta={"mime_type": "application/octet-stream",
                                             "filename": "e2e.bin"}):
        yield chunk


def _raise_error(request):
    """tests/e2e/plugin/tools/raise_error.py (the SDK reports a ValueError with empty args)."""
    params = (request.get("data") or {}).get("tool_parameters") or {}
    yield {"type": "text", "message": {"text": "about to fail"}, "meta": None}
    raise FakePluginError("ValueError", params.get("message") or "e2e_tools intentional failure", {})


def _shout(request):
    """wordsmith's shout tool, as its recorded answers show it."""
    params = (request.get("data") or {}).get("tool_parameters") or {}
    word = str(params.get("word"))
    times = params.get("times")
    if times is None:
        raise TypeError("int() argument must be a string, a bytes-like object or a real number, "
                        "not 'NoneType'")
    word = word.title() if params.get("style") == "title" else word.upper()
    words = [word + ("!" if params.get("exclaim") else "")] * int(times)
    yield {"type": "text", "message": {"text": " ".join(words)}, "meta": None}
    yield {"type": "json", "meta": None, "message": {"json_object": {
        "words": words, "times_type": type(times).__name__,
        "exclaim_type": type(params.get("exclaim")).__name__}}}
    yield {"type": "variable", "meta": None,
           "message": {"variable_name": "count", "variable_value": int(times), "stream": False}}
    # the blob is one word repeated 1000 * (times + 2) times (8000 bytes for "OK" twice)
    data = (words[0] * (1000 * (int(times) + 2))).encode("utf-8")
    for chunk in blob_chunks(data, meta={"mime_type": "text/plain"}):
        yield chunk


def _fail(request):
    raise RuntimeError("wordsmith refuses on purpose")
    yield  # pragma: no cover  (a generator, like the tool)


def install_failure(release, identifier):
    """The uv output the recording shows for e2e_broken's failed install (for ``identifier``)."""
    for item in release_exchanges(release):
        data = item.response_json.get("data") if isinstance(item.response_json, dict) else None
        for task in _tasks_in(data):
            for entry in task["plugins"]:
                if entry.get("plugin_id") == "e2etest/e2e_broken" and entry.get("status") == "failed":
                    recorded = entry["plugin_unique_identifier"].rsplit("@", 1)[1]
                    return entry["message"].replace(recorded, identifier.rsplit("@", 1)[1])
    raise AssertionError("%s: no failed e2e_broken install recorded" % release)


def configure(daemon, release, payloads):
    """The recording's environment: plugin code, uv's failure, the prior state."""
    daemon.set_tool_handler("e2etest/e2e_tools", "e2e_tools", "echo_types", _echo_types)
    daemon.set_tool_handler("e2etest/e2e_tools", "e2e_tools", "raise_error", _raise_error)
    daemon.set_tool_handler("ceocheck/wordsmith", "wordsmith", "shout", _shout)
    daemon.set_tool_handler("ceocheck/wordsmith", "wordsmith", "fail", _fail)
    daemon.fail_install["e2etest/e2e_broken"] = install_failure(
        release, package_identifier(zip_files(broken_files())))
    identifier = daemon.add_package(wordsmith_files(release))
    daemon.install(PRIOR_TENANT, identifier)


# =============================================================================
# Sending
# =============================================================================


def _key_for(recorded):
    match = re.fullmatch(r"<redacted:other key, (\d+) chars>", recorded or "")
    if match:
        return ("wrongkey" * 8)[:int(match.group(1))]
    return KEY


def request_body(exchange, ids, payloads):
    """The body to send: the recorded one with ids substituted, or a rebuilt multipart form."""
    body = exchange.request.get("body")
    if not body:
        return None
    if "multipart_parts" in body:
        content_type = exchange.header("Content-Type") or ""
        boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1).encode("latin-1")
        out = []
        for part in body["multipart_parts"]:
            if "content" in part:
                content = part["content"].encode("utf-8")
            else:
                content, _level = payloads.get(part["sha256"], part["length"])
            out.append(b"--" + boundary + b"\r\n" + part["headers"].encode("utf-8") + b"\r\n\r\n"
                       + content + b"\r\n")
        return b"".join(out) + b"--" + boundary + b"--\r\n"
    if "text" in body:
        return ids.apply(body["text"]).encode("utf-8")
    if "base64" in body:
        return base64.b64decode(body["base64"])
    raise AssertionError("%s: the recording keeps no body to send" % exchange.id)


def send(daemon, exchange, ids, payloads):
    """Send the recorded request to the fake; returns its :class:`Answer`."""
    body = request_body(exchange, ids, payloads)
    connection = http.client.HTTPConnection(daemon.host, daemon.port, timeout=60)
    try:
        connection.putrequest(exchange.method, ids.apply(exchange.request["raw_target"]),
                              skip_host=True, skip_accept_encoding=True)
        for name, value in exchange.request["headers"]:
            lowered = name.lower()
            if lowered == "content-length":
                continue
            if lowered == "host":
                value = "%s:%d" % (daemon.host, daemon.port)
            elif lowered == "x-api-key":
                value = _key_for(value)
            else:
                value = ids.apply(value)
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        return Answer(response.status, response.reason, response.getheaders(), bool(response.chunked), data)
    finally:
        connection.close()


# =============================================================================
# The replay
# =============================================================================


def _tasks_in(value):
    """Install tasks (dicts with id, status, plugins) in a recorded answer's data."""
    items = value if isinstance(value, list) else [value]
    return [t for t in items if isinstance(t, dict) and "plugins" in t and "status" in t and "id" in t]


def last_seen_running(exchanges):
    """Recorded task id -> position of the last recorded answer that shows it running."""
    last = {}
    for position, item in enumerate(exchanges):
        body = item.response_json
        if isinstance(body, dict):
            for task in _tasks_in(body.get("data")):
                if task["status"] in ("pending", "running"):
                    last[task["id"]] = position
    return last


def _fix_reproduced_ids(exchange, ids, payloads):
    """A package rebuilt with the recorded files must give the recorded checksums (the
    identifier's, the asset ids), in a success answer or in an error message."""
    parts = (exchange.request.get("body") or {}).get("multipart_parts") or []
    for part in parts:
        if "sha256" in part and "content" not in part:
            _data, level = payloads.get(part["sha256"], part["length"])
            if level in (BYTES, FILES):
                for token in TOKEN_RE.findall(exchange.response.get("text") or ""):
                    if len(token) == 64:
                        ids.fix(token)


class ReleaseReplay(object):
    """The outcome of one release's replay: problems per exchange key."""

    def __init__(self, release):
        self.release = release
        self.exchanges = release_exchanges(release)
        self.problems = {}      # exchange key -> [problem]
        self.payloads = Payloads(release)
        self.ids = IdMap(release)
        self.fake_errors = []

    @property
    def compared(self):
        return len(self.problems)


def replay_release(release):
    """Replay every recorded exchange of ``release`` against a fresh fake; returns a ReleaseReplay."""
    result = ReleaseReplay(release)
    running = last_seen_running(result.exchanges)
    daemon = FakeDaemon(key=KEY, version=release, install_delay=None).start()
    try:
        configure(daemon, release, result.payloads)
        for position, item in enumerate(result.exchanges):
            keep = [result.ids.fake_of(task) for task, last in running.items() if last >= position]
            daemon.finish_installs(keep_tasks=[task for task in keep if task])
            _fix_reproduced_ids(item, result.ids, result.payloads)
            try:
                answer = send(daemon, item, result.ids, result.payloads)
            except (OSError, http.client.HTTPException) as exc:
                result.problems[item.key] = ["request failed: %r" % exc]
                continue
            result.problems[item.key] = compare(item, answer, result.ids)
        result.fake_errors = list(daemon.errors)
    finally:
        daemon.stop()
    return result
