"""Build the end-to-end test plugins as ``.difypkg`` files.

Stdlib only.  A ``.difypkg`` is a plain zip of a plugin directory: file
entries only (no directory entries), paths with forward slashes, sorted,
deflate-compressed, no comment (what the daemon's ``dify plugin package``
writes).  The build is deterministic: the same arguments give the same bytes.

Plugins (all author ``e2etest``):

- ``e2e_tools`` (the default): the tool plugin in ``tests/e2e/plugin/``;
- ``echomodel``, ``echoendpoint``, ``echoagent``, ``echotool``, ``echodocs``,
  ``echodrive``, ``echocrawl``, ``echotrigger``: the offline plugins in
  ``tests/e2e/plugins/<name>/`` (see the README there).

    from build_plugin import build      # with tests/e2e on sys.path
    pkg = build()                       # e2e_tools 0.0.1, with README.md
    pkg2 = build("0.0.2")               # for the upgrade test
    bare = build(readme=False)          # no README.md (readme error path)
    model = build(plugin="echomodel")   # any other plugin, same options

    python tests/e2e/build_plugin.py [--plugin NAME] [--version 0.0.2] [--no-readme] [-o out.difypkg]
    python tests/e2e/build_plugin.py --all [--out-dir DIR] [--version 0.0.2]
    python tests/e2e/build_plugin.py --list
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import zipfile

_HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_DIR = os.path.join(_HERE, "plugin")
PLUGINS_DIR = os.path.join(_HERE, "plugins")
AUTHOR = "e2etest"
NAME = "e2e_tools"
PLUGIN_ID = AUTHOR + "/" + NAME
PROVIDER = "e2e_tools"
TOOLS = ("echo_types", "raise_error")

# The offline plugins of tests/e2e/plugins/, in build order.
ECHO_PLUGINS = (
    "echomodel",
    "echoendpoint",
    "echoagent",
    "echotool",
    "echodocs",
    "echodrive",
    "echocrawl",
    "echotrigger",
)
PLUGINS = (NAME,) + ECHO_PLUGINS

_VERSION_RE = re.compile(r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
_SKIP_DIRS = {"__pycache__", ".venv", ".uv-cache", ".git"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".difypkg")
_FIXED_DATE = (2026, 1, 1, 0, 0, 0)


def plugin_dir(plugin: str = NAME) -> str:
    """The source directory of ``plugin`` (one of :data:`PLUGINS`)."""
    if plugin == NAME:
        return PLUGIN_DIR
    if plugin in ECHO_PLUGINS:
        return os.path.join(PLUGINS_DIR, plugin)
    raise ValueError("unknown plugin %r (known: %s)" % (plugin, ", ".join(PLUGINS)))


def plugin_id(plugin: str = NAME) -> str:
    """``e2etest/<plugin>``."""
    plugin_dir(plugin)
    return AUTHOR + "/" + plugin


def _plugin_files(root_dir: str = PLUGIN_DIR) -> list[str]:
    """Paths (relative, with '/') of every file of the plugin, sorted."""
    paths = []
    for root, dirs, files in os.walk(root_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in files:
            if name.endswith(_SKIP_SUFFIXES):
                continue
            rel = os.path.relpath(os.path.join(root, name), root_dir)
            paths.append(rel.replace(os.sep, "/"))
    return sorted(paths)


def _with_version(manifest: bytes, version: str) -> bytes:
    text = manifest.decode("utf-8")
    new, n = re.subn(r"(?m)^version:.*$", "version: " + version, text, count=1)
    if n != 1:
        raise ValueError("manifest.yaml has no top-level 'version:' line")
    return new.encode("utf-8")


def files(version: str = "0.0.1", *, readme: bool = True, plugin: str = NAME) -> dict[str, bytes]:
    """The package's entries, path -> content, in zip order."""
    if not _VERSION_RE.match(version):
        raise ValueError("version must be x.y.z, got %r" % (version,))
    root_dir = plugin_dir(plugin)
    out: dict[str, bytes] = {}
    for rel in _plugin_files(root_dir):
        if rel == "README.md" and not readme:
            continue
        with open(os.path.join(root_dir, *rel.split("/")), "rb") as fh:
            data = fh.read()
        if rel == "manifest.yaml":
            data = _with_version(data, version)
        out[rel] = data
    return out


def build(
    version: str = "0.0.1",
    out_path: str | None = None,
    *,
    readme: bool = True,
    plugin: str = NAME,
) -> bytes:
    """Return the .difypkg bytes; also write them to ``out_path`` if given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, data in files(version, readme=readme, plugin=plugin).items():
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
    Agrees with the 0.6.10 daemon's package decoder (``UniqueIdentity``) for every
    package this module builds; still, prefer the identifier from the upload
    response when a daemon is at hand.
    """
    with zipfile.ZipFile(io.BytesIO(pkg)) as zf:
        names = sorted(i.filename for i in zf.infolist() if not i.is_dir())
        acc = hashlib.sha256()
        for name in names:
            acc.update(hashlib.sha256(name.encode("utf-8")).digest())
            acc.update(hashlib.sha256(zf.read(name)).digest())
    return acc.hexdigest()


def unique_identifier(pkg: bytes, version: str = "0.0.1", *, plugin: str = NAME) -> str:
    """``e2etest/<plugin>:<version>@<checksum>``; see :func:`checksum` for the caveat."""
    return "%s:%s@%s" % (plugin_id(plugin), version, checksum(pkg))


def _default_name(plugin: str, version: str, readme: bool) -> str:
    return "%s-%s%s.difypkg" % (plugin, version, "" if readme else "-noreadme")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugin", default=NAME, choices=PLUGINS, help="which plugin (default: %(default)s)")
    ap.add_argument("--all", action="store_true", help="build every plugin into --out-dir")
    ap.add_argument("--list", action="store_true", help="print the plugin names and source folders")
    ap.add_argument("--version", default="0.0.1")
    ap.add_argument("--no-readme", action="store_true", help="leave README.md out")
    ap.add_argument("-o", "--out", help="output path (default: <plugin>-<version>[-noreadme].difypkg)")
    ap.add_argument("--out-dir", default=".", help="output folder for --all (default: .)")
    args = ap.parse_args(argv)
    readme = not args.no_readme
    if args.list:
        for name in PLUGINS:
            print("%s\ttests/e2e/%s" % (plugin_id(name), os.path.relpath(plugin_dir(name), _HERE).replace(os.sep, "/")))
        return 0
    if args.all:
        if args.out:
            ap.error("--out cannot be combined with --all (use --out-dir)")
        os.makedirs(args.out_dir, exist_ok=True)
        for name in PLUGINS:
            out = os.path.join(args.out_dir, _default_name(name, args.version, readme))
            pkg = build(args.version, out, readme=readme, plugin=name)
            print("%s (%d bytes)" % (out, len(pkg)))
        return 0
    out = args.out or _default_name(args.plugin, args.version, readme)
    pkg = build(args.version, out, readme=readme, plugin=args.plugin)
    print("%s (%d bytes)" % (out, len(pkg)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
