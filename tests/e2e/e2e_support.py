"""Helpers of the end-to-end suite (fixtures are in conftest.py).

Kept in a module of its own so test files can import them (``conftest`` is not importable
by name: tests/conftest.py has the same name).
"""

import collections
import io
import os
import random
import re
import sys
import uuid
import zipfile

import pytest

E2E_DIR = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(E2E_DIR)
REPO_DIR = os.path.dirname(TESTS_DIR)
for _path in (E2E_DIR, REPO_DIR):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import build_plugin  # noqa: E402
import dify_plugin_client as dpc  # noqa: E402

REQUIRED_SETTINGS = (
    ("DIFY_E2E_URL", "the daemon's base URL, e.g. http://127.0.0.1:5002"),
    ("DIFY_E2E_KEY", "the daemon's SERVER_KEY"),
    ("DIFY_E2E_VERSION", "the daemon's release as x.y.z, e.g. 0.6.10 or 0.5.4"),
)
VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

PLUGIN_ID = build_plugin.PLUGIN_ID                       # e2etest/e2e_tools
PROVIDER = PLUGIN_ID + "/" + build_plugin.PROVIDER       # e2etest/e2e_tools/e2e_tools
BROKEN_NAME = "e2e_broken"
BROKEN_PLUGIN_ID = build_plugin.AUTHOR + "/" + BROKEN_NAME
#: What echo_types sends as its blob (tests/e2e/plugin/tools/echo_types.py).
BLOB = bytes(i % 251 for i in range(20000))
#: The messages echo_types sends, in order (the blob arrives as blob_chunk pieces).
ECHO_TYPES_MESSAGES = ["text", "json", "variable", "log", "blob"]
#: An identifier of the right shape that no daemon has.
UNKNOWN_IDENTIFIER = "nobody/nothing:1.0.0@" + "0" * 64
#: The first release seen to build the new version's environment inside an upgrade task.
#: 0.5.4 runs that task with the HTTP request's context, which is cancelled once the daemon
#: has answered, so uv fails at once ("failed to start command: context canceled") unless
#: the new version's environment already exists; 0.6.10 gives the task its own context.
#: Releases in between were not checked.
UPGRADE_BUILDS_ENVIRONMENT_FROM = (0, 6, 10)
#: The message raise_error sends before it raises.
RAISE_ERROR_TEXT = "about to fail"

#: The user the suite's dispatch calls are made for.
USER = "e2e-user"
#: Credentials the offline test plugins (tests/e2e/plugins/) accept: ``api_key`` "good".
GOOD = {"api_key": "good"}
#: A few bytes of WAV audio for echomodel's speech-to-text model.
WAV = b"RIFF$\x00\x00\x00WAVEfmt " + bytes(range(24))
#: The OAuth client and callback URL the echotool OAuth calls are made with.
OAUTH_CLIENT = {"client_id": "my-client", "client_secret": "s3cret"}
OAUTH_CALLBACK = ("https://dify.example/console/api/oauth/plugin/e2etest/echotool/echotool/"
                  "tool/callback")
#: A subscription of echotrigger's webhook; ``secret`` is what it checks X-Echo-Secret against.
SUBSCRIPTION = {"endpoint": "https://dify.example/triggers/plugin/abc", "expires_at": 1900000000,
                "parameters": {"channel": "c1"},
                "properties": {"external_id": "hook-123", "secret": "s"}}


def missing_settings(environ):
    """The required settings absent from ``environ``, as (name, what) pairs."""
    return [(name, what) for name, what in REQUIRED_SETTINGS if not environ.get(name)]


class RealDaemon(object):
    """The daemon under test. ``repr`` never shows the key."""

    def __init__(self, url, key, version_text):
        self.url = url.rstrip("/")
        self.key = key
        self.version_text = version_text
        self.version = tuple(int(part) for part in VERSION_RE.match(version_text).groups())

    def at_least(self, *version):
        return self.version >= tuple(version)

    def __repr__(self):
        return "RealDaemon(url=%r, version=%r)" % (self.url, self.version_text)


def make_client(url, key, **options):
    options.setdefault("timeout", 120.0)
    return dpc.DifyPluginClient(dpc.PluginConfig(url=url, key=key, **options))


def user_message(text):
    """A prompt of one user message."""
    return [dpc.UserPromptMessage(content=text)]


def webhook(body=b'{"kind": "push", "user": "alice"}', secret="s"):
    """The raw HTTP request a sender posts to the SUBSCRIPTION endpoint, signed with ``secret``."""
    return dpc.RawHttpRequest("POST", "/triggers/plugin/abc?src=test", [
        ("Host", "dify.example"), ("Content-Type", "application/json"),
        ("X-Echo-Secret", secret)], body)


# --------------------------------------------------------------------------- tenants


class Tenants(object):
    """Hands out fresh tenant ids; ``cleanup`` uninstalls what they hold."""

    def __init__(self, client):
        self.client = client
        self.made = []
        #: identifiers whose runtime may keep running with no installation: the daemon
        #: starts it for an install over another version, which then changes nothing
        self.stray_runtimes = set()

    def new(self):
        tenant = str(uuid.uuid4())
        self.made.append(tenant)
        return tenant

    def _empty(self, tenant):
        for plugin in self.client.list_plugins(tenant):
            self.client.uninstall(tenant, plugin.installation_id or plugin.id)
        self.client.delete_all_plugin_installation_task_items(tenant)

    def cleanup(self):
        problems = []
        for tenant in list(self.made):
            try:
                self._empty(tenant)
            except dpc.DifyPluginError as exc:  # keep cleaning the others
                problems.append("%s: %s" % (tenant, exc))
        # Such a runtime stops when an installation of it is removed: install it once
        # more in a fresh tenant, then uninstall it.
        for identifier in sorted(self.stray_runtimes):
            tenant = self.new()
            try:
                install_and_wait(self.client, tenant, identifier)
                self._empty(tenant)
            except dpc.DifyPluginError as exc:
                problems.append("%s: %s" % (identifier, exc))
        return problems


def install_and_wait(client, tenant, identifier):
    """Install an uploaded identifier, waiting for the task if there is one."""
    return install_all_and_wait(client, tenant, [identifier])


def install_all_and_wait(client, tenant, identifiers):
    """Install uploaded identifiers in one task, waiting for it if there is one."""
    start = client.install_from_identifiers(tenant, list(identifiers), "package")
    if not start.all_installed:
        client.wait_for_installation_task(tenant, start.task_id, timeout=600)
    return start


def tenant_with_plugins(client, tenants, *names):
    """A new tenant with the test plugins ``names`` (tests/e2e/plugins/, at their default
    version) uploaded and installed, one after the other."""
    tenant = tenants.new()
    for name in names:
        decoded = client.upload_pkg(tenant, build_plugin.build(plugin=name))
        install_and_wait(client, tenant, decoded.unique_identifier)
    return tenant


# --------------------------------------------------------------------------- packages


def random_release():
    """A random ``<a>.<b>`` to put in front of a build's patch number.

    An identifier whose runtime already exists on the daemon is installed synchronously,
    with no task to wait for, and sessions running side by side must not share state; so
    each session builds its packages at versions of its own.
    """
    rng = random.SystemRandom()
    return "%d.%d" % (rng.randint(1, 9999), rng.randint(0, 9999))


def build_test_plugin(name, version):
    """The test plugin tests/e2e/plugins/<name> built at ``version``: (bytes, unique identifier)."""
    data = build_plugin.build(version, plugin=name)
    return data, build_plugin.unique_identifier(data, version, plugin=name)


class BuiltPlugins(object):
    """Test plugins built at one version: ``data[name]`` (package bytes) and
    ``identifiers[name]`` (the unique identifier the daemon will give it)."""

    def __init__(self, names, version):
        self.version = version
        self.data, self.identifiers = {}, {}
        for name in names:
            self.data[name], self.identifiers[name] = build_test_plugin(name, version)


class Package(object):
    """One built package: its bytes, where they are saved, and its unique identifier."""

    def __init__(self, label, plugin_id, version, path, data, identifier):
        self.label = label
        self.plugin_id = plugin_id
        self.version = version
        self.path = path
        self.data = data
        self.identifier = identifier

    def __repr__(self):
        return "Package(%s %s, %d bytes)" % (self.label, self.identifier, len(self.data))


def zip_files(files):
    """A .difypkg (zip, file entries only, sorted) of ``{path: bytes}``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buf.getvalue()


def broken_files(version):
    """The test plugin renamed e2e_broken, with a requirements.txt uv cannot parse."""
    files = build_plugin.files(version)
    manifest = files["manifest.yaml"].decode("utf-8")
    manifest = re.sub(r"(?m)^name: .*$", "name: " + BROKEN_NAME, manifest, count=1)
    manifest = manifest.replace("en_US: E2E Tools", "en_US: E2E Broken", 1)
    files["manifest.yaml"] = manifest.encode("utf-8")
    files["requirements.txt"] = b"dify_plugin>=0.9.0,<0.10.0\n!!! this is not a requirement\n"
    return files


class Packages(object):
    """This session's packages, built into ``folder``.

    ``old`` and ``new``: one release of the test plugin and the next (the 0.0.1 -> 0.0.2 of
    the upgrade); ``other``: a third release, installed over ``old`` to see that refused;
    ``noreadme``: ``old`` without README.md (another checksum; never installed);
    ``broken``: e2e_broken, whose requirements.txt cannot be installed.

    The versions are drawn at random (``<a>.<b>.1``, ``.2``, ``.3``; see :func:`random_release`).
    """

    def __init__(self, folder):
        base = random_release()
        self.folder = folder
        self.old = self._tools("old", base + ".1")
        self.new = self._tools("new", base + ".2")
        self.other = self._tools("other", base + ".3")
        self.noreadme = self._tools("noreadme", base + ".1", readme=False)
        data = zip_files(broken_files(base + ".1"))
        self.broken = self._save("broken", BROKEN_PLUGIN_ID, base + ".1", data,
                                 "%s:%s@%s" % (BROKEN_PLUGIN_ID, base + ".1",
                                               build_plugin.checksum(data)))

    def _tools(self, label, version, readme=True):
        data = build_plugin.build(version, readme=readme)
        return self._save(label, PLUGIN_ID, version, data,
                          build_plugin.unique_identifier(data, version))

    def _save(self, label, plugin_id, version, data, identifier):
        path = os.path.join(self.folder, "%s-%s.difypkg" % (label, version))
        with open(path, "wb") as handle:
            handle.write(data)
        return Package(label, plugin_id, version, path, data, identifier)


class Installed(object):
    """``pkgs.old`` installed for ``tenant`` by upload, install and a waited task."""

    def __init__(self, tenant, decoded, start, task, progress, installation):
        self.tenant = tenant
        self.decoded = decoded
        self.start = start
        self.task = task
        self.progress = progress
        self.installation = installation


# --------------------------------------------------------------------------- the CLI

CliResult = collections.namedtuple("CliResult", "rc out err")


def check_no_key(text, *keys):
    for secret in keys:
        if secret and secret in text:
            # say so without showing the text: it holds the key
            pytest.fail("a daemon key appeared in the CLI's output", pytrace=False)


class Cli(object):
    """Runs ``dify_plugin_client.main`` in this process with an environment of its own."""

    def __init__(self, real_daemon):
        self.real_daemon = real_daemon

    def environ(self, tenant=None, url=None, key=None):
        environ = {"DIFY_PLUGIN_DAEMON_URL": url or self.real_daemon.url,
                   "DIFY_PLUGIN_DAEMON_KEY": key or self.real_daemon.key,
                   "NO_COLOR": "1", "COLUMNS": "500"}  # wide: tables are not cut
        if tenant:
            environ["DIFY_PLUGIN_TENANT_ID"] = tenant
        return environ

    def __call__(self, *args, **kw):
        tenant, url, key = kw.pop("tenant", None), kw.pop("url", None), kw.pop("key", None)
        stdin_text = kw.pop("stdin", "")
        if kw:
            raise TypeError("unexpected arguments: %s" % ", ".join(sorted(kw)))
        out, err = io.StringIO(), io.StringIO()
        rc = dpc.main(list(args), environ=self.environ(tenant, url, key),
                      stdin=io.StringIO(stdin_text), stdout=out, stderr=err)
        result = CliResult(rc, out.getvalue(), err.getvalue())
        check_no_key(result.out + result.err, self.real_daemon.key, key)
        return result


def types_of(messages):
    return [message.type for message in messages]


def only(messages, kind):
    found = [message for message in messages if message.type == kind]
    assert len(found) == 1, "expected one %s message, got %s" % (kind, types_of(messages))
    return found[0]
