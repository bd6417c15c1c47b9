"""Build the end-to-end test plugin (``e2etest/e2e_tools``) as a ``.difypkg``.

Stdlib only.  A ``.difypkg`` is a plain zip of the plugin directory
``tests/e2e/plugin/``: file entries only (no directory entries), paths with
forward slashes, sorted, deflate-compressed, no comment (what the daemon's
``dify plugin package`` writes).  The build is deterministic: the same
arguments give the same bytes.

    from build_plugin import build      # with tests/e2e on sys.path
    pkg = build()                       # 0.0.1, with README.md
    pkg2 = build("0.0.2")               # for the upgrade test
    bare = build(readme=False)          # no README.md (readme error path)

    python tests/e2e/build_plugin.py [--version 0.0.2] [--no-readme] [-o out.difypkg]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import zipfile

PLUGIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugin")
AUTHOR = "e2etest"
NAME = "e2e_tools"
PLUGIN_ID = AUTHOR + "/" + NAME
PROVIDER = "e2e_tools"
TOOLS = ("echo_types", "raise_error")

_VERSION_RE = re.compile(r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
_SKIP_DIRS = {"__pycache__", ".venv", ".uv-cache", ".git"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".difypkg")
_FIXED_DATE = (2026, 1, 1, 0, 0, 0)


def _plugin_files() -> list[str]:
    """Paths (relative, with '/') of every file of the plugin, sorted."""
    paths = []
    for root, dirs, files in os.walk(PLUGIN_DIR):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in files:
            if name.endswith(_SKIP_SUFFIXES):
                continue
            rel = os.path.relpath(os.path.join(root, name), PLUGIN_DIR)
            paths.append(rel.replace(os.sep, "/"))
    return sorted(paths)


def _with_version(manifest: bytes, version: str) -> bytes:
    text = manifest.decode("utf-8")
    new, n = re.subn(r"(?m)^version:.*$", "version: " + version, text, count=1)
    if n != 1:
        raise ValueError("manifest.yaml has no top-level 'version:' line")
    return new.encode("utf-8")


def files(version: str = "0.0.1", *, readme: bool = True) -> dict[str, bytes]:
    """The package's entries, path -> content, in zip order."""
    if not _VERSION_RE.match(version):
        raise ValueError("version must be x.y.z, got %r" % (version,))
    out: dict[str, bytes] = {}
    for rel in _plugin_files():
        if rel == "README.md" and not readme:
            continue
        with open(os.path.join(PLUGIN_DIR, *rel.split("/")), "rb") as fh:
            data = fh.read()
        if rel == "manifest.yaml":
            data = _with_version(data, version)
        out[rel] = data
    return out


def build(version: str = "0.0.1", out_path: str | None = None, *, readme: bool = True) -> bytes:
    """Return the .difypkg bytes; also write them to ``out_path`` if given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, data in files(version, readme=readme).items():
            info = zipfile.ZipInfo(rel, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    pkg = buf.getvalue()
    if out_path:
        with open(out_path, "wb") as fh:
            fh.write(pkg)
    return pkg


def checksum(pkg: bytes) -> str:
    """Package checksum as described in shared/reference/real-daemon.md section 7.

    sha256 over, for each entry path in sorted order, sha256(path) + sha256(content).
    NOT checked against a real daemon on this machine (see tests/e2e/NOTES.md):
    take the identifier from the upload response when a daemon is available.
    """
    with zipfile.ZipFile(io.BytesIO(pkg)) as zf:
        names = sorted(i.filename for i in zf.infolist() if not i.is_dir())
        acc = hashlib.sha256()
        for name in names:
            acc.update(hashlib.sha256(name.encode("utf-8")).digest())
            acc.update(hashlib.sha256(zf.read(name)).digest())
    return acc.hexdigest()


def unique_identifier(pkg: bytes, version: str = "0.0.1") -> str:
    """``e2etest/e2e_tools:<version>@<checksum>``; see :func:`checksum` for the caveat."""
    return "%s:%s@%s" % (PLUGIN_ID, version, checksum(pkg))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", default="0.0.1")
    ap.add_argument("--no-readme", action="store_true", help="leave README.md out")
    ap.add_argument("-o", "--out", help="output path (default: e2e_tools-<version>[-noreadme].difypkg)")
    args = ap.parse_args(argv)
    out = args.out or "%s-%s%s.difypkg" % (NAME, args.version, "-noreadme" if args.no_readme else "")
    pkg = build(args.version, out, readme=not args.no_readme)
    print("%s (%d bytes)" % (out, len(pkg)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
