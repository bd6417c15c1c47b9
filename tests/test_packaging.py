"""Packaging: the in-tree build backend (scripts/_build_backend.py) and pip installs with it.

The promise checked here: from a checkout, ``pip install --no-index --no-build-isolation .``
works in a fresh ``python -m venv`` of Python 3.8 and of 3.13 (nothing but Python and
the pip that venv seeds: no setuptools, no network), and builds a correct, reproducible
wheel and sdist. The fresh-venv tests need pyenv's (or PATH's) python3.8 and python3.13,
found the way .ci/run finds them; a missing one fails the test.
"""

import base64
import csv
import glob
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import BytesParser

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.path.join(REPO, "dify_plugin_client.py")
BACKEND = os.path.join(REPO, "scripts", "_build_backend.py")


def _load_backend():
    spec = importlib.util.spec_from_file_location("_build_backend_under_test", BACKEND)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


backend = _load_backend()


def _module_version():
    # independent of the backend's ast reader: a plain regex over the source
    with open(MODULE, encoding="utf-8") as handle:
        match = re.search(r'^__version__ = "([^"]+)"$', handle.read(), re.M)
    assert match, "no __version__ line in dify_plugin_client.py"
    return match.group(1)


VERSION = _module_version()
WHEEL_NAME = "dify_plugin_client-%s-py3-none-any.whl" % VERSION
DIST_INFO = "dify_plugin_client-%s.dist-info" % VERSION


def find_python(minor):
    """The newest pyenv CPython 3.<minor>, else python3.<minor> on PATH (as .ci/run does)."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    pattern = os.path.join(root, "versions", "3.%d.*" % minor, "bin", "python3.%d" % minor)

    def version_key(path):
        name = os.path.basename(os.path.dirname(os.path.dirname(path)))
        return [int(part) if part.isdigit() else -1 for part in re.split(r"[.]", name)]

    found = sorted(glob.glob(pattern), key=version_key)
    if found:
        return found[-1]
    on_path = shutil.which("python3.%d" % minor)
    if on_path and subprocess.run([on_path, "-c", "pass"]).returncode == 0:
        return on_path
    pytest.fail("no Python 3.%d found (pyenv under %s, or python3.%d on PATH)"
                % (minor, root, minor))


def clean_env(**extra):
    """The environment of a machine with only Python and pip: no venv, no pip config."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PIP_", "PYTHON")) and key not in ("VIRTUAL_ENV",
                                                                     "SOURCE_DATE_EPOCH")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_INPUT="1", PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


def run(command, cwd, timeout=300, **env):
    result = subprocess.run([str(part) for part in command], cwd=str(cwd),
                            env=clean_env(**env), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, "%s\nexit %d\n%s%s" % (
        " ".join(map(str, command)), result.returncode, result.stdout, result.stderr)
    return result


def tomllib_loads(text):
    """tomllib's reading of text: in-process on 3.11+, else through Python 3.13."""
    if sys.version_info >= (3, 11):
        import tomllib
        return tomllib.loads(text)
    code = "import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))"
    result = subprocess.run([find_python(13), "-c", code], input=text, capture_output=True,
                            text=True, timeout=60, env=clean_env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def pip_wheel(source, out_dir):
    """``pip wheel --no-index --no-build-isolation <source>``; the path of the wheel."""
    os.makedirs(str(out_dir))
    run([sys.executable, "-m", "pip", "wheel", "--no-index", "--no-build-isolation",
         "--no-deps", "--no-cache-dir", "-w", out_dir, source], cwd=out_dir)
    built = os.listdir(str(out_dir))
    assert built == [WHEEL_NAME]
    return os.path.join(str(out_dir), WHEEL_NAME)


def read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def pyproject():
    with open(os.path.join(REPO, "pyproject.toml"), encoding="utf-8") as handle:
        return tomllib_loads(handle.read())


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory):
    return pip_wheel(REPO, tmp_path_factory.mktemp("wheel") / "out")


# --- the TOML reader ------------------------------------------------------------------

TOML_SAMPLES = [
    "",
    "a = 1\nb = -20\nc = 1_000\nd = true\ne = false\n",
    'a = "x # not a comment"  # a comment\n',
    'a = "esc \\" \\\\ \\t \\n \\u00e9 \\U0001F600"\nb = \'C:\\path\'\n',
    '"quoted key" = 1\n\'literal key\' = 2\na.b.c = "dotted"\n',
    "[t]\nx = [1, 2,\n  3, # comment\n]\ny = []\nz = [[1], ['a', \"b\"]]\n",
    "[t.u]\nv = {a = 1, b.c = 'd', e = {}}\n[t.w]\n",
    "[ spaced . header ]\nk=1\r\nl=2\r\n",
]


@pytest.mark.parametrize("text", TOML_SAMPLES)
def test_toml_reader_agrees_with_tomllib_on_samples(text):
    assert backend.parse_toml(text) == tomllib_loads(text)


def test_toml_reader_agrees_with_tomllib_on_pyproject(pyproject):
    with open(os.path.join(REPO, "pyproject.toml"), encoding="utf-8") as handle:
        assert backend.parse_toml(handle.read()) == pyproject


@pytest.mark.parametrize("text", [
    'a = """multi\nline"""\n', "a = '''x'''\n", "[[array.of.tables]]\n", "a = 1.5\n",
    "a = 1979-05-27\n", "a = 1\na = 2\n", "[t]\n[t]\n", 'a = "unterminated\n',
    "a = [1 2]\n", "a = {b = 1,}\n", "a = 1 b = 2\n", 'a = "\\q"\n', "= 1\n", "a = \n",
    "\ufeffbom = 1\n",
])
def test_toml_reader_rejects_what_it_does_not_support(text):
    with pytest.raises(backend.TomlSubsetError):
        backend.parse_toml(text)


# --- project metadata ---------------------------------------------------------------

def _project_dir(tmp_path, project_lines, module_text='__version__ = "1.2.3"\n'):
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\n\n[project]\nname = "dify-plugin-client"\n'
        + "".join(line + "\n" for line in project_lines), encoding="utf-8")
    (tmp_path / "dify_plugin_client.py").write_text(module_text, encoding="utf-8")
    return str(tmp_path)


def test_version_is_parsed_from_the_module_not_imported(tmp_path):
    root = _project_dir(tmp_path, ['dynamic = ["version"]'],
                        '__version__ = "9.8.7"\nraise SystemExit("imported")\n')
    assert backend.Project(root).version == "9.8.7"


@pytest.mark.parametrize("lines, message", [
    (['dynamic = ["version"]', 'authors = [{name = "x"}]'], "authors"),
    (['dynamic = ["version", "description"]'], "dynamic"),
    (['version = "1.0"', 'license = {file = "LICENSE"}'], "license"),
    (['version = "not a version"'], "PEP 440"),
    (['version = "1.0"', 'readme = "README.rst"'], "Markdown"),
])
def test_project_table_it_cannot_represent_is_an_error(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        backend.Project(_project_dir(tmp_path, lines))


def test_version_without_dunder_version_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="__version__"):
        backend.Project(_project_dir(tmp_path, ['dynamic = ["version"]'], "VERSION = 1\n"))


# --- the wheel ------------------------------------------------------------------------

def test_wheel_holds_exactly_the_module_and_its_dist_info(wheel_path):
    with zipfile.ZipFile(wheel_path) as archive:
        assert archive.namelist() == [
            "dify_plugin_client.py",
            DIST_INFO + "/METADATA",
            DIST_INFO + "/WHEEL",
            DIST_INFO + "/entry_points.txt",
            DIST_INFO + "/RECORD",
        ]
        assert archive.read("dify_plugin_client.py") == read_bytes(MODULE)
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
            assert info.external_attr >> 16 == 0o100644, info.filename


def test_wheel_record_hashes_every_file(wheel_path):
    with zipfile.ZipFile(wheel_path) as archive:
        rows = list(csv.reader(io.StringIO(archive.read(DIST_INFO + "/RECORD").decode())))
        assert [row[0] for row in rows] == archive.namelist()
        for name, digest, size in rows:
            if name == DIST_INFO + "/RECORD":
                assert (digest, size) == ("", "")
                continue
            data = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()
            assert int(size) == len(data)


def test_wheel_metadata_matches_pyproject(wheel_path, pyproject):
    project = pyproject["project"]
    with zipfile.ZipFile(wheel_path) as archive:
        raw = archive.read(DIST_INFO + "/METADATA")
        wheel = archive.read(DIST_INFO + "/WHEEL").decode()
        entry_points = archive.read(DIST_INFO + "/entry_points.txt").decode()
    message = BytesParser().parsebytes(raw)
    assert message["Metadata-Version"] == "2.1"
    assert message["Name"] == project["name"] == "dify-plugin-client"
    assert message["Version"] == VERSION
    assert message["Summary"] == project["description"]
    assert message["Requires-Python"] == project["requires-python"] == ">=3.8"
    assert message["License"] == project["license"]["text"]
    assert message.get_all("Classifier") == project["classifiers"]
    assert message.get_all("Requires-Dist") is None and project["dependencies"] == []
    assert message["Description-Content-Type"] == "text/markdown"
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        assert message.get_payload(decode=True).decode("utf-8") == handle.read()
    assert wheel.splitlines() == ["Wheel-Version: 1.0",
                                  "Generator: dify-plugin-client in-tree backend",
                                  "Root-Is-Purelib: true", "Tag: py3-none-any"]
    assert entry_points.splitlines() == [
        "[console_scripts]",
        "dify-plugin-client = %s" % project["scripts"]["dify-plugin-client"]]
    assert project["scripts"] == {"dify-plugin-client": "dify_plugin_client:main"}


def test_pip_wheel_is_reproducible(wheel_path, tmp_path):
    again = pip_wheel(REPO, tmp_path / "again")
    assert read_bytes(again) == read_bytes(wheel_path)


# --- the sdist ------------------------------------------------------------------------

def _build_sdist(out_dir):
    os.makedirs(str(out_dir))
    code = ("import sys; sys.path.insert(0, 'scripts'); import _build_backend; "
            "print(_build_backend.build_sdist(sys.argv[1]))")
    name = run([sys.executable, "-c", code, out_dir], cwd=REPO).stdout.strip()
    assert os.listdir(str(out_dir)) == [name]
    return os.path.join(str(out_dir), name)


def test_sdist_contents_and_a_wheel_built_from_it(wheel_path, tmp_path):
    sdist = _build_sdist(tmp_path / "sdist")
    top = "dify_plugin_client-%s" % VERSION
    assert os.path.basename(sdist) == top + ".tar.gz"
    with tarfile.open(sdist) as archive:
        members = archive.getmembers()
        assert [member.name for member in members] == [
            top, top + "/scripts", top + "/PKG-INFO", top + "/pyproject.toml",
            top + "/README.md", top + "/dify_plugin_client.py",
            top + "/scripts/_build_backend.py"]
        assert all(member.mtime == 315532800 and member.uid == member.gid == 0
                   for member in members)
        for name in ("pyproject.toml", "README.md", "dify_plugin_client.py",
                     "scripts/_build_backend.py"):
            assert archive.extractfile(top + "/" + name).read() == read_bytes(
                os.path.join(REPO, *name.split("/")))
        pkg_info = archive.extractfile(top + "/PKG-INFO").read()
    with zipfile.ZipFile(wheel_path) as archive:
        assert pkg_info == archive.read(DIST_INFO + "/METADATA")
    # pip builds the same wheel from the sdist as from the checkout
    from_sdist = pip_wheel(sdist, tmp_path / "from-sdist")
    assert read_bytes(from_sdist) == read_bytes(wheel_path)
    # and the sdist itself is reproducible
    assert read_bytes(_build_sdist(tmp_path / "sdist-again")) == read_bytes(sdist)


# --- fresh virtual environments: only Python and pip --------------------------------

@pytest.mark.parametrize("minor", [8, 13], ids=["3.8", "3.13"])
def test_pip_install_into_a_fresh_venv(minor, tmp_path):
    python = find_python(minor)
    venv = tmp_path / "venv"
    elsewhere = tmp_path / "elsewhere"  # outside the checkout: no accidental imports
    elsewhere.mkdir()
    run([python, "-m", "venv", venv], cwd=elsewhere)
    vpython = venv / "bin" / "python"
    script = venv / "bin" / "dify-plugin-client"
    where = "import dify_plugin_client as m, sys; print(m.__file__); print(sys.version_info[1])"

    # no setuptools needed: 3.12+ venvs have none, 3.8's is too old for PEP 621 anyway
    run([vpython, "-m", "pip", "install", "--no-index", "--no-build-isolation", "."],
        cwd=REPO)
    site = run([vpython, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               cwd=elsewhere).stdout.strip()
    lines = run([vpython, "-c", where], cwd=elsewhere).stdout.split()
    assert lines == [os.path.join(site, "dify_plugin_client.py"), str(minor)]
    assert read_bytes(lines[0]) == read_bytes(MODULE)
    assert "usage: dify-plugin-client" in run([script, "--help"], cwd=elsewhere).stdout
    version = run([script, "--version"], cwd=elsewhere)
    assert (version.stdout + version.stderr).strip() == "dify-plugin-client " + VERSION
    shown = run([vpython, "-m", "pip", "show", "dify-plugin-client"], cwd=elsewhere).stdout
    assert "Version: %s" % VERSION in shown.splitlines()

    # editable (PEP 660): the venv imports the checkout's file
    run([vpython, "-m", "pip", "install", "--no-index", "--no-build-isolation", "-e", "."],
        cwd=REPO)
    lines = run([vpython, "-c", where], cwd=elsewhere).stdout.split()
    assert os.path.realpath(lines[0]) == os.path.realpath(MODULE)
    assert not os.path.exists(os.path.join(site, "dify_plugin_client.py"))
    assert "usage: dify-plugin-client" in run([script, "--help"], cwd=elsewhere).stdout

    # and pip can remove it again
    run([vpython, "-m", "pip", "uninstall", "-y", "dify-plugin-client"], cwd=elsewhere)
    gone = subprocess.run([str(vpython), "-c", "import dify_plugin_client"], cwd=str(elsewhere),
                          env=clean_env(), capture_output=True, text=True, timeout=60)
    assert gone.returncode != 0 and "No module named 'dify_plugin_client'" in gone.stderr
    assert not script.exists()
