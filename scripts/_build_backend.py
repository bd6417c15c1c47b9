"""In-tree PEP 517 / PEP 660 build backend for dify-plugin-client (standard library only).

pyproject.toml names it with ``backend-path = ["scripts"]`` and ``requires = []``, so
``pip install --no-index --no-build-isolation .`` works with nothing but Python and pip
(3.8 to 3.13): no setuptools, no wheel, no network.

What it builds
  * wheel: the single module ``<name with _>.py``, plus a ``.dist-info`` directory with
    METADATA, WHEEL, entry_points.txt (from [project.scripts]) and RECORD (sha256).
  * editable wheel (PEP 660): a ``.pth`` file holding the checkout's path, plus the same
    ``.dist-info`` files.
  * sdist: ``<name>-<version>/`` holding PKG-INFO, pyproject.toml, README, the module
    and this backend (needed to build a wheel from the sdist).
  Every archive member gets a fixed timestamp and mode, and members are written in a fixed
  order, so building twice gives byte-identical files.

Where the metadata comes from
  pyproject.toml's [project] table is the only source. Python 3.8 to 3.10 have no
  tomllib, so ``parse_toml`` below reads the small TOML subset a pyproject uses (tables,
  dotted and quoted keys, basic and literal strings, integers, booleans, arrays and
  inline tables). It is strict: anything outside that subset (multi-line strings, arrays
  of tables, dates, floats) and any [project] key this backend does not turn into
  metadata raise an error instead of being silently dropped. The same parser runs on
  every Python version; tests/test_packaging.py checks it agrees with tomllib.
  The version is the one ``dynamic`` field: it is read from ``__version__ = "..."`` in
  the module by parsing its source (ast), never by importing it.
"""

import ast
import base64
import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile

__all__ = [
    "get_requires_for_build_wheel", "get_requires_for_build_sdist",
    "get_requires_for_build_editable", "prepare_metadata_for_build_wheel",
    "prepare_metadata_for_build_editable", "build_wheel", "build_sdist", "build_editable",
]

# 1980-01-01 00:00:00 UTC: the earliest time a zip entry can hold; used for every member.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 315532800
WHEEL_TAG = "py3-none-any"
BACKEND_FILE = "scripts/_build_backend.py"

# [project] keys this backend understands; any other key is an error.
_PROJECT_KEYS = {"name", "version", "dynamic", "description", "readme", "requires-python",
                 "license", "dependencies", "classifiers", "keywords", "urls", "scripts"}


# --- a strict reader for the TOML subset pyproject.toml uses ----------------------------

class TomlSubsetError(ValueError):
    """pyproject.toml uses TOML this backend's reader does not support (or is invalid)."""


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INTEGER = re.compile(r"[+-]?(0|[1-9](_?[0-9])*)")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class _TomlReader:
    def __init__(self, text):
        self.text = text
        self.pos = 0

    def fail(self, message):
        line = self.text.count("\n", 0, self.pos) + 1
        raise TomlSubsetError("pyproject.toml line %d: %s" % (line, message))

    def peek(self, count=1):
        return self.text[self.pos:self.pos + count]

    def skip_blanks(self):  # spaces and tabs only
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def skip_comment(self):
        if self.peek() == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    def skip_space_and_newlines(self):  # inside arrays: blanks, newlines, comments
        while True:
            self.skip_blanks()
            self.skip_comment()
            if self.peek() == "\n":
                self.pos += 1
            elif self.peek(2) == "\r\n":
                self.pos += 2
            else:
                return

    def end_of_line(self):
        self.skip_blanks()
        self.skip_comment()
        if self.peek() == "\n":
            self.pos += 1
        elif self.peek(2) == "\r\n":
            self.pos += 2
        elif self.pos < len(self.text):
            self.fail("expected the end of the line, found %r" % self.peek())

    def key(self):
        parts = []
        while True:
            self.skip_blanks()
            if self.peek() == '"':
                parts.append(self.basic_string())
            elif self.peek() == "'":
                parts.append(self.literal_string())
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                if not match:
                    self.fail("expected a key")
                parts.append(match.group())
                self.pos = match.end()
            self.skip_blanks()
            if self.peek() != ".":
                return parts
            self.pos += 1

    def basic_string(self):
        if self.peek(3) == '"""':
            self.fail("multi-line strings are not supported")
        self.pos += 1
        out = []
        while True:
            char = self.peek()
            if not char or char == "\n":
                self.fail("unterminated string")
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                code = self.peek()
                self.pos += 1
                if code in _ESCAPES:
                    out.append(_ESCAPES[code])
                elif code in ("u", "U"):
                    width = 4 if code == "u" else 8
                    digits = self.text[self.pos:self.pos + width]
                    if len(digits) != width or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                        self.fail("bad unicode escape")
                    out.append(chr(int(digits, 16)))
                    self.pos += width
                else:
                    self.fail("bad escape \\%s" % code)
            elif char < " " and char != "\t" or char == "\x7f":
                self.fail("control character in a string")
            else:
                out.append(char)

    def literal_string(self):
        if self.peek(3) == "'''":
            self.fail("multi-line strings are not supported")
        end = self.text.find("'", self.pos + 1)
        newline = self.text.find("\n", self.pos + 1)
        if end < 0 or 0 <= newline < end:
            self.fail("unterminated string")
        value = self.text[self.pos + 1:end]
        self.pos = end + 1
        return value

    def value(self):
        char = self.peek()
        if char == '"':
            return self.basic_string()
        if char == "'":
            return self.literal_string()
        if char == "[":
            return self.array()
        if char == "{":
            return self.inline_table()
        for word, result in (("true", True), ("false", False)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return result
        match = _INTEGER.match(self.text, self.pos)
        if match and not re.match(r"[0-9A-Za-z_.:+-]", self.text[match.end():match.end() + 1]):
            self.pos = match.end()
            return int(match.group().replace("_", ""))
        self.fail("unsupported value (only strings, integers, booleans, arrays and inline "
                  "tables are read)")

    def array(self):
        self.pos += 1
        items = []
        while True:
            self.skip_space_and_newlines()
            if self.peek() == "]":
                self.pos += 1
                return items
            items.append(self.value())
            self.skip_space_and_newlines()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                self.fail("expected ',' or ']' in an array")

    def inline_table(self):
        self.pos += 1
        table = {}
        self.skip_blanks()
        if self.peek() == "}":
            self.pos += 1
            return table
        while True:
            self.assign(table)
            self.skip_blanks()
            if self.peek() == "}":
                self.pos += 1
                return table
            if self.peek() != ",":
                self.fail("expected ',' or '}' in an inline table")
            self.pos += 1

    def assign(self, table):
        parts = self.key()
        if self.peek() != "=":
            self.fail("expected '=' after a key")
        self.pos += 1
        self.skip_blanks()
        value = self.value()
        target = table
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                self.fail("key %r is not a table" % ".".join(parts))
        if parts[-1] in target:
            self.fail("duplicate key %r" % ".".join(parts))
        target[parts[-1]] = value

    def document(self):
        root = {}
        current = root
        seen_headers = set()
        while self.pos < len(self.text):
            self.skip_blanks()
            char = self.peek()
            if char in ("#", "\n", "\r"):
                self.end_of_line()
                continue
            if char == "[":
                if self.peek(2) == "[[":
                    self.fail("arrays of tables are not supported")
                self.pos += 1
                parts = self.key()
                if self.peek() != "]":
                    self.fail("expected ']' after a table name")
                self.pos += 1
                if tuple(parts) in seen_headers:
                    self.fail("table [%s] defined twice" % ".".join(parts))
                seen_headers.add(tuple(parts))
                current = root
                for part in parts:
                    current = current.setdefault(part, {})
                    if not isinstance(current, dict):
                        self.fail("[%s] is not a table" % ".".join(parts))
            else:
                self.assign(current)
            self.end_of_line()
        return root


def parse_toml(text):
    """Parse the TOML subset described in the module docstring into dicts and lists."""
    return _TomlReader(text).document()


# --- project metadata ---------------------------------------------------------------------

def _normalize(name):
    """The distribution name as wheel and sdist file names spell it."""
    return re.sub(r"[-_.]+", "_", name).lower()


def read_version(path):
    """The string assigned to a top-level ``__version__`` in a Python file (not imported)."""
    with open(path, "rb") as handle:
        tree = ast.parse(handle.read(), filename=path)
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "__version__"):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
            raise ValueError("%s: __version__ is not a plain string" % path)
    raise ValueError("%s: no top-level __version__ = \"...\"" % path)


_VERSION = re.compile(r"[0-9]+(\.[0-9]+)*((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?")


class Project:
    """What the [project] table says, checked, with the version and README resolved."""

    def __init__(self, root):
        self.root = root
        with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as handle:
            data = parse_toml(handle.read())
        project = data.get("project")
        if not isinstance(project, dict):
            raise ValueError("pyproject.toml has no [project] table")
        unknown = sorted(set(project) - _PROJECT_KEYS)
        if unknown:
            raise ValueError("pyproject.toml [project] keys this backend does not support: "
                             + ", ".join(unknown))
        self.name = project["name"]
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", self.name):
            raise ValueError("invalid project name %r" % self.name)
        self.module = _normalize(self.name)
        self.module_file = self.module + ".py"
        dynamic = project.get("dynamic", [])
        if "version" in project:
            if dynamic:
                raise ValueError("dynamic fields are only supported for the version")
            self.version = project["version"]
        elif dynamic == ["version"]:
            self.version = read_version(os.path.join(root, self.module_file))
        else:
            raise ValueError("[project] needs version, or dynamic = [\"version\"]")
        if not _VERSION.fullmatch(self.version):
            raise ValueError("version %r is not a normalized PEP 440 version" % self.version)
        self.summary = project.get("description", "")
        if "\n" in self.summary:
            raise ValueError("[project] description must be one line")
        self.requires_python = project.get("requires-python")
        license_ = project.get("license")
        if license_ is not None and (not isinstance(license_, dict) or set(license_) != {"text"}):
            raise ValueError("license: only the {text = \"...\"} form is supported")
        self.license = license_["text"] if license_ else None
        self.dependencies = list(project.get("dependencies", []))
        self.classifiers = list(project.get("classifiers", []))
        self.keywords = list(project.get("keywords", []))
        self.urls = dict(project.get("urls", {}))
        self.scripts = dict(project.get("scripts", {}))
        readme = project.get("readme")
        if readme is not None and not isinstance(readme, str):
            raise ValueError("readme: only a file name is supported")
        if readme is not None and not readme.lower().endswith(".md"):
            raise ValueError("readme: only a Markdown (.md) file is supported")
        self.readme_file = readme
        self.readme = None
        if readme is not None:
            with open(os.path.join(root, readme), encoding="utf-8") as handle:
                self.readme = handle.read()
        self.dist_name = "%s-%s" % (self.module, self.version)
        self.dist_info = self.dist_name + ".dist-info"

    def metadata(self):
        """The METADATA / PKG-INFO file (core metadata 2.1) as bytes."""
        fields = [("Metadata-Version", "2.1"), ("Name", self.name), ("Version", self.version)]
        if self.summary:
            fields.append(("Summary", self.summary))
        if self.keywords:
            fields.append(("Keywords", ",".join(self.keywords)))
        if self.license:
            fields.append(("License", self.license))
        fields += [("Project-URL", "%s, %s" % item) for item in self.urls.items()]
        fields += [("Classifier", classifier) for classifier in self.classifiers]
        if self.requires_python:
            fields.append(("Requires-Python", self.requires_python))
        fields += [("Requires-Dist", requirement) for requirement in self.dependencies]
        if self.readme is not None:
            fields.append(("Description-Content-Type", "text/markdown"))
        for key, value in fields:
            if not isinstance(value, str) or "\n" in value or "\r" in value:
                raise ValueError("metadata field %s must be a one-line string: %r"
                                 % (key, value))
        text = "".join("%s: %s\n" % field for field in fields)
        if self.readme is not None:
            # core metadata 2.1: the description is the message body after a blank line
            text += "\n" + self.readme
            if not text.endswith("\n"):
                text += "\n"
        return text.encode("utf-8")

    def entry_points(self):
        if not self.scripts:
            return None
        lines = ["[console_scripts]"]
        lines += ["%s = %s" % (name, target) for name, target in sorted(self.scripts.items())]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def wheel_file(self):
        return ("Wheel-Version: 1.0\nGenerator: dify-plugin-client in-tree backend\n"
                "Root-Is-Purelib: true\nTag: %s\n" % WHEEL_TAG).encode("utf-8")

    def dist_info_files(self):
        """(name, bytes) for the .dist-info directory, without RECORD."""
        files = [("METADATA", self.metadata()), ("WHEEL", self.wheel_file())]
        entry_points = self.entry_points()
        if entry_points is not None:
            files.append(("entry_points.txt", entry_points))
        return [(self.dist_info + "/" + name, data) for name, data in files]

    def wheel_name(self):
        return "%s-%s.whl" % (self.dist_name, WHEEL_TAG)


# --- archives -----------------------------------------------------------------------------

def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _write_wheel(project, directory, payload):
    """Write payload files + .dist-info + RECORD into a wheel in directory; return its name."""
    members = list(payload) + project.dist_info_files()
    record_name = project.dist_info + "/RECORD"
    record = io.StringIO()
    for name, data in members:
        record.write("%s,%s,%d\n" % (name, _record_hash(data), len(data)))
    record.write("%s,,\n" % record_name)
    members.append((record_name, record.getvalue().encode("utf-8")))
    wheel_name = project.wheel_name()
    path = os.path.join(directory, wheel_name)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = 3  # Unix, whatever system builds it
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return wheel_name


def _read(root, relative):
    with open(os.path.join(root, relative), "rb") as handle:
        return handle.read()


def _write_metadata_directory(project, metadata_directory):
    for name, data in project.dist_info_files():
        path = os.path.join(metadata_directory, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    return project.dist_info


# --- PEP 517 / PEP 660 hooks --------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _write_metadata_directory(Project(os.getcwd()), metadata_directory)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return _write_metadata_directory(Project(os.getcwd()), metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = Project(os.getcwd())
    payload = [(project.module_file, _read(project.root, project.module_file))]
    return _write_wheel(project, wheel_directory, payload)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    project = Project(os.getcwd())
    if not os.path.isfile(os.path.join(project.root, project.module_file)):
        raise ValueError("no %s in %s" % (project.module_file, project.root))
    # A .pth line is a directory site.py appends to sys.path: the checkout itself.
    pth = (os.path.abspath(project.root) + "\n").encode("utf-8")
    payload = [("__editable__.%s.pth" % project.dist_name, pth)]
    return _write_wheel(project, wheel_directory, payload)


def build_sdist(sdist_directory, config_settings=None):
    project = Project(os.getcwd())
    files = [("PKG-INFO", project.metadata()),
             ("pyproject.toml", _read(project.root, "pyproject.toml"))]
    if project.readme_file:
        files.append((project.readme_file, _read(project.root, project.readme_file)))
    files.append((project.module_file, _read(project.root, project.module_file)))
    files.append((BACKEND_FILE, _read(project.root, BACKEND_FILE)))
    sdist_name = project.dist_name + ".tar.gz"
    path = os.path.join(sdist_directory, sdist_name)
    with open(path, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=TAR_MTIME) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
        directories = sorted({os.path.dirname(name) for name, _ in files} - {""})
        for directory in [""] + directories:
            info = tarfile.TarInfo((project.dist_name + "/" + directory).rstrip("/"))
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = TAR_MTIME
            archive.addfile(info)
        for name, data in files:
            info = tarfile.TarInfo(project.dist_name + "/" + name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = TAR_MTIME
            archive.addfile(info, io.BytesIO(data))
    return sdist_name
