#!/usr/bin/env python3
"""Prove the suggested module changes on patched copies (the real module is untouched).

    python bench/experiments.py            # after bench/run.py has built bench/.venv

Each patch below is a text edit of a *copy* of dify_plugin_client.py, written to a
temporary directory; the copy is then measured against the unpatched module on the
same replay server and fixtures as bench/run.py.  A patch whose anchor text is no
longer in the module is reported as "does not apply" (the module moved on).

Patches (see bench/README.md for the reasoning):

A  fast_from_dict  per-entity from_dict compiled once (no per-field path strings, no
                   kwargs + dataclass __init__, converters inlined); any anomaly falls
                   back to the existing generic code, which raises the precise error.
B  bulk_chunked    _StreamResponse.iter_raw de-chunks the HTTP body itself from 64 KiB
                   reads instead of http.client's one-chunk-per-read1.
C  blob_fast       blob_chunk events: the base64 text is cut out of the event before
                   json.loads (and put back verbatim); _BlobMerger keeps a list of
                   pieces and joins it once instead of growing a bytearray.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

import run  # noqa: E402  (venv, servers, environment helpers)

# --------------------------------------------------------------------------------------
# the patches
# --------------------------------------------------------------------------------------

FAST_FROM_DICT = r'''

# --- experiment A: compiled from_dict ------------------------------------------------


class _Slow(Exception):
    """The fast parser met something unusual: use the generic path (exact errors)."""


def _compile_from_dict(cls):
    spec = cls._spec()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    env = {"_U": _UNSET, "_Slow": _Slow, "_new": object.__new__, "C": cls,
           "generic": _generic_from_dict, "keys": cls._cached_keys,
           "RVE": ResponseValidationError, "_MISSING": dataclasses.MISSING}
    lines = ["def from_dict(cls, data, path=None):",
             "    if cls is not C or type(data) is not dict:",
             "        return generic(cls, data, path)",
             "    get = data.get",
             "    try:"]
    names = []
    for index, (name, conv, required, null_ok) in enumerate(spec):
        var = "v%d" % index
        names.append((name, var))
        field = fields[name]
        if field.default_factory is not dataclasses.MISSING:
            env["f%d" % index] = field.default_factory
            default = "f%d()" % index
        else:
            env["d%d" % index] = field.default
            default = "d%d" % index
        kind = getattr(conv, "kind", None)
        inner = conv
        optional = kind == "optional"
        if optional:
            inner = conv.inner
            kind = getattr(inner, "kind", None)
        lines.append("        %s = get(%r, _U)" % (var, name))
        missing = "raise _Slow" if required else "%s = %s" % (var, default)
        lines.append("        if %s is _U:" % var)
        lines.append("            %s" % missing)
        if optional or null_ok:
            lines.append("        elif %s is None:" % var)
            lines.append("            %s = %s" % (var, "None" if optional else
                                                  ("[]" if kind == "list" else default)))
        else:
            lines.append("        elif %s is None:" % var)
            lines.append("            %s" % missing)
        if inner is _conv_str:
            lines.append("        elif type(%s) is not str: raise _Slow" % var)
        elif inner is _conv_bool:
            lines.append("        elif %s is not True and %s is not False: raise _Slow"
                         % (var, var))
        elif inner is _conv_int:
            lines.append("        elif type(%s) is not int: raise _Slow" % var)
        elif inner is _conv_dict:
            lines.append("        elif type(%s) is not dict: raise _Slow" % var)
        elif inner is _conv_dict_or_empty:
            lines.append("        elif type(%s) is not dict: raise _Slow" % var)
        elif inner is _conv_any or inner is _conv_bundle_value:
            pass
        elif kind == "entity":
            env["E%d" % index] = inner.cls
            lines.append("        else: %s = E%d.from_dict(%s)" % (var, index, var))
        elif kind == "list":
            item = inner.inner
            item_kind = getattr(item, "kind", None)
            lines.append("        elif type(%s) is not list: raise _Slow" % var)
            if item is _conv_str:
                lines.append("        else:")
                lines.append("            for x in %s:" % var)
                lines.append("                if type(x) is not str: raise _Slow")
                lines.append("            %s = %s[:]" % (var, var))
            elif item_kind == "entity":
                env["E%d" % index] = item.cls
                lines.append("        else: %s = [E%d.from_dict(x) for x in %s]"
                             % (var, index, var))
            else:
                env["c%d" % index] = item
                lines.append("        else: %s = [c%d(x, None) for x in %s]" % (var, index, var))
        else:
            env["c%d" % index] = inner
            lines.append("        else: %s = c%d(%s, None)" % (var, index, var))
    lines.append("    except (_Slow, RVE):")
    lines.append("        return generic(cls, data, path)")
    lines.append("    self = _new(C)")
    lines.append("    self.__dict__.update({%s})" % ", ".join("%r: %s" % (n, v) for n, v in names))
    if "__post_init__" in dir(cls):
        lines.append("    self.__post_init__()")
    lines.append("    if not keys.issuperset(data):")
    lines.append("        self.extra = {k: v for k, v in data.items() if k not in keys}")
    lines.append("    return self")
    exec("\n".join(lines), env)
    return classmethod(env["from_dict"])


_generic_from_dict = _Entity.from_dict.__func__


def _install_fast_parsers():
    for value in list(globals().values()):
        if (isinstance(value, type) and issubclass(value, _Entity) and value is not _Entity
                and "from_dict" not in value.__dict__):
            value.from_dict = _compile_from_dict(value)


_install_fast_parsers()
'''


def patch_fast_from_dict(src):
    src = _replace(src, '''    convert.optional = True
    return convert


def _list_of(conv):''', '''    convert.optional = True
    convert.kind = "optional"
    convert.inner = conv
    return convert


def _list_of(conv):''')
    src = _replace(src, '''        return [conv(item, "%s[%d]" % (path, index)) for index, item in enumerate(value)]
    convert.optional = True
    return convert''', '''        return [conv(item, "%s[%d]" % (path, index)) for index, item in enumerate(value)]
    convert.optional = True
    convert.kind = "list"
    convert.inner = conv
    return convert''')
    src = _replace(src, '''    def convert(value, path):
        return cls.from_dict(value, path)
    return convert''', '''    def convert(value, path):
        return cls.from_dict(value, path)
    convert.kind = "entity"
    convert.cls = cls
    return convert''')
    anchor = '''# =============================================================================
# Wire helpers: input checks'''
    return _replace(src, anchor, FAST_FROM_DICT.lstrip("\n") + "\n\n" + anchor)


BULK_CHUNKED = r'''
    def iter_raw(self, read_timeout):
        """Yield body bytes as they arrive; a chunked body is de-chunked here, from
        64 KiB reads, rather than one HTTP chunk per read1 call."""
        import http.client
        import socket

        response = self._response
        self._connection.sock.settimeout(read_timeout)
        if not response.chunked or response.fp is None:
            for block in self._iter_plain(read_timeout):
                yield block
            return
        read1 = response.fp.read1
        pending = b""
        left = 0          # bytes of chunk data still to come
        crlf = False      # the CRLF after a chunk's data is due
        try:
            while True:
                block = read1(_READ_BLOCK)
                if not block:
                    raise RemoteProtocolError("the stream broke: the connection closed "
                                              "mid-body", route=self.route)
                buf = pending + block if pending else block
                end = len(buf)
                pos = 0
                out = []
                while pos < end:
                    if left:
                        take = left if left <= end - pos else end - pos
                        out.append(buf[pos:pos + take])
                        pos += take
                        left -= take
                        if not left:
                            crlf = True
                        continue
                    if crlf:
                        if end - pos < 2:
                            break
                        if buf[pos:pos + 2] != b"\r\n":
                            raise RemoteProtocolError("the stream broke: bad chunk framing",
                                                      route=self.route)
                        pos += 2
                        crlf = False
                        continue
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        if end - pos > 4096:
                            raise RemoteProtocolError("the stream broke: bad chunk size line",
                                                      route=self.route)
                        break
                    try:
                        size = int(buf[pos:eol].split(b";", 1)[0], 16)
                    except ValueError:
                        raise RemoteProtocolError("the stream broke: bad chunk size line",
                                                  route=self.route) from None
                    pos = eol + 2
                    if size == 0:
                        rest = buf[pos:]
                        while not (rest.startswith(b"\r\n") or b"\r\n\r\n" in rest):
                            more = read1(_READ_BLOCK)
                            if not more:
                                break
                            rest += more
                        if out:
                            yield b"".join(out)
                        response.chunk_left = None
                        response._close_conn()
                        self._finished = True
                        return
                    left = size
                pending = buf[pos:]
                if out:
                    yield out[0] if len(out) == 1 else b"".join(out)
        except socket.timeout:
            raise ReadTimeout("the stream was silent for %s s" % read_timeout,
                              route=self.route,
                              hint="long tool runs send nothing until they finish; raise "
                                   "stream_timeout") from None
        except (http.client.HTTPException, OSError) as exc:
            raise RemoteProtocolError("the stream broke: %s" % _os_error_text(exc),
                                      route=self.route) from None

    def _iter_plain(self, read_timeout):
        """Yield body bytes as they arrive (one read each); raise on a broken stream."""'''


def patch_bulk_chunked(src):
    return _replace(src, '''    def iter_raw(self, read_timeout):
        """Yield body bytes as they arrive (one read each); raise on a broken stream."""''',
                    BULK_CHUNKED.lstrip("\n"))


def patch_blob_fast(src):
    # 1. the merger keeps a list of pieces and joins once
    src = _replace(src, '''            entry = self.buffers[chunk.id] = [bytearray(), 0]
        buffer = entry[0]
        if chunk.sequence != entry[1]:
            raise InvalidResponseError("blob %s: chunk %d arrived where chunk %d was due"
                                       % (chunk.id, chunk.sequence, entry[1]))
        if len(buffer) + size > self.max_blob_size:
            del self.buffers[chunk.id]
            raise BlobTooLargeError("blob %s is over the %s max_blob_size"
                                    % (chunk.id, _format_size(self.max_blob_size)))
        buffer += chunk.blob
        entry[1] += 1
        if not chunk.end:
            return None
        del self.buffers[chunk.id]
        if chunk.total_length and chunk.total_length != len(buffer):
            _logger().warning("blob %s: %d bytes received, %d declared", chunk.id,
                              len(buffer), chunk.total_length)
        return ToolInvokeMessage(type="blob", message=BlobMessage(blob=bytes(buffer)),
                                 meta=message.meta)''', '''            entry = self.buffers[chunk.id] = [[], 0, 0]
        if chunk.sequence != entry[1]:
            raise InvalidResponseError("blob %s: chunk %d arrived where chunk %d was due"
                                       % (chunk.id, chunk.sequence, entry[1]))
        if entry[2] + size > self.max_blob_size:
            del self.buffers[chunk.id]
            raise BlobTooLargeError("blob %s is over the %s max_blob_size"
                                    % (chunk.id, _format_size(self.max_blob_size)))
        if size:
            entry[0].append(chunk.blob)
        entry[2] += size
        entry[1] += 1
        if not chunk.end:
            return None
        del self.buffers[chunk.id]
        if chunk.total_length and chunk.total_length != entry[2]:
            _logger().warning("blob %s: %d bytes received, %d declared", chunk.id,
                              entry[2], chunk.total_length)
        return ToolInvokeMessage(type="blob", message=BlobMessage(blob=b"".join(entry[0])),
                                 meta=message.meta)''')
    # 2. cut the base64 text out of a blob event before json.loads
    src = _replace(src, '''def _event_message(text, route):
    """One stream event: a daemon envelope holding a tool message, or an error."""
    try:
        envelope = json.loads(text)''', '''def _event_message(text, route):
    """One stream event: a daemon envelope holding a tool message, or an error."""
    if len(text) > 2048:
        blob_at = text.find('"blob":"')
        if blob_at > 0:
            end = text.find('"', blob_at + 8)
            blob_text = text[blob_at + 8:end]
            # the key must be unique (nothing before blob_at matched; check after end)
            if end > 0 and text.find('"blob":"', end) < 0 and "\\\\" not in blob_text:
                try:
                    envelope = json.loads(text[:blob_at + 8] + text[end:])
                    message = envelope["data"]["message"]
                    if envelope.get("code") == 0 and message.get("blob") == "":
                        message["blob"] = blob_text
                        return ToolInvokeMessage.from_dict(envelope["data"], "data")
                except (ValueError, TypeError, KeyError, AttributeError,
                        ResponseValidationError):
                    pass  # the generic path below reports it precisely
    try:
        envelope = json.loads(text)''')
    return src


class PatchDoesNotApply(Exception):
    pass


def _replace(src, old, new):
    if src.count(old) != 1:
        raise PatchDoesNotApply(old.strip().splitlines()[0][:70])
    return src.replace(old, new)


PATCHES = {"A_fast_from_dict": [patch_fast_from_dict],
           "B_bulk_chunked": [patch_bulk_chunked],
           "C_blob_fast": [patch_blob_fast],
           "ABC_all": [patch_fast_from_dict, patch_bulk_chunked, patch_blob_fast]}

# --------------------------------------------------------------------------------------
# measuring a copy
# --------------------------------------------------------------------------------------

PROBE = r'''
import gc, json, sys, time
sys.path.insert(0, sys.argv[1])           # the copy under test
sys.path.insert(0, sys.argv[2])           # bench/
import dify_plugin_client as dpc
assert dpc.__file__.startswith(sys.argv[1]), dpc.__file__
from fixtures import KEY, PROVIDER, TENANT
url, fixtures, what = sys.argv[3], sys.argv[4], sys.argv[5]
client = dpc.DifyPluginClient(dpc.PluginConfig(url=url, key=KEY))
out = {}
if what == "calls":
    for _ in range(100):
        client.list_plugins_with_total(TENANT)
    n = 1500
    start = time.perf_counter()
    for _ in range(n):
        client.list_plugins_with_total(TENANT)
    out["calls_per_s"] = n / (time.perf_counter() - start)
    data = json.load(open(fixtures + "/list-" + TENANT + ".json"))["data"]
    best = 1e9
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(300):
            dpc.PluginListResponse.from_dict(data, "data")
        best = min(best, (time.perf_counter() - start) / 300)
    out["from_dict_us"] = best * 1e6
    assert dpc.PluginListResponse.from_dict(data, "data").to_dict()["list"][0]["declaration"]
elif what == "stream":
    gc.collect()
    start = time.perf_counter()
    n = sum(1 for _ in client.invoke(TENANT, "u", PROVIDER, "small", cast_parameters=False))
    out["msg_per_s"] = n / (time.perf_counter() - start)
elif what == "blob":
    gc.collect()
    start = time.perf_counter()
    total = sum(len(m.message.blob) for m in
                client.invoke(TENANT, "u", PROVIDER, "blob", cast_parameters=False))
    out["blob_mb_s"] = total / (time.perf_counter() - start) / 1e6
    out["blob_bytes"] = total
print(json.dumps(out))
'''


def measure(copy_dir, url, fixtures, what):
    result = subprocess.run([run.venv_python(), "-c", PROBE, copy_dir, BENCH, url, fixtures,
                             what], capture_output=True, text=True, env=run.child_env(),
                            cwd=tempfile.gettempdir(), timeout=600)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--small", type=int, default=200000)
    parser.add_argument("--keep", help="also write the patched copies into this directory")
    args = parser.parse_args()
    run.ensure_venv(False)
    work = tempfile.mkdtemp(prefix="dify-experiments-")
    try:
        with open(run.MODULE) as handle:
            original = handle.read()
        copies = {"original": original}
        for name, patches in PATCHES.items():
            src = original
            try:
                for patch in patches:
                    src = patch(src)
            except PatchDoesNotApply as exc:
                print("%s: does not apply (%s)" % (name, exc))
                continue
            copies[name] = src
        dirs = {}
        for name, src in copies.items():
            path = os.path.join(work, name)
            os.makedirs(path)
            with open(os.path.join(path, "dify_plugin_client.py"), "w") as handle:
                handle.write(src)
            dirs[name] = path
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                with open(os.path.join(args.keep, name + ".py"), "w") as handle:
                    handle.write(src)
        fixtures = os.path.join(work, "fixtures")
        subprocess.run([run.venv_python(), os.path.join(BENCH, "fixtures.py"), fixtures,
                        str(args.small), "4", str(8 * run.MiB)], check=True,
                       env=run.child_env(), stdout=subprocess.DEVNULL)
        server = run.Server([run.venv_python(), os.path.join(BENCH, "replay_server.py"),
                             "--fixtures", fixtures, "--watch-stdin"])
        try:
            results = {name: {} for name in dirs}
            for what in ("calls", "stream", "blob"):
                for _ in range(args.reps):
                    for name, path in dirs.items():
                        for key, value in measure(path, server.url, fixtures, what).items():
                            results[name].setdefault(key, []).append(value)
        finally:
            server.stop()
        keys = [("from_dict_us", "PluginListResponse.from_dict µs", min),
                ("calls_per_s", "list_plugins_with_total calls/s", max),
                ("msg_per_s", "small-message stream msg/s", max),
                ("blob_mb_s", "blob stream MB/s", max)]
        print("| copy | " + " | ".join(label for _, label, _ in keys) + " |")
        print("|---|" + "---:|" * len(keys))
        base = {key: pick(results["original"][key]) for key, _, pick in keys}
        for name in dirs:
            cells = []
            for key, _, pick in keys:
                value = pick(results[name][key])
                change = value / base[key]
                cells.append("%.0f (%s)" % (value, "=" if name == "original" else
                                            "%.2fx" % (1 / change if key == "from_dict_us"
                                                       else change)))
            print("| %s | %s |" % (name, " | ".join(cells)))
        print("\n(best of %d runs; for from_dict lower is better, the factor is the speed-up)"
              % args.reps)
        print("load average now: %.2f" % os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
