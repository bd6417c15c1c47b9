"""Code written for the seed's client runs unchanged.

The seed README's Python examples are copied below verbatim (its configuration block
and its five example flows) and run against the fake daemon. They name the daemon as
http://localhost:5002 with key "plugin-api-key"; the test points that address at the
fake daemon's port (as a hosts entry would) and starts the fake with that key, so not
one character of the examples changes. Their placeholder identifiers ("plugin-a@1.0.0",
"abc123") are not valid for any daemon: the client refuses them before sending, with
an error naming the argument, and the test checks exactly that.
"""

import textwrap
import uuid

import httpx
import pytest

import dify_plugin_client as dpc
from fake_daemon import FakeDaemon, build_package

SEED_CONFIGURATION = '''
from dify_plugin_client import DifyPluginClient, PluginConfig

config = PluginConfig(
    url="http://localhost:5002",  # daemon base URL
    key="plugin-api-key",         # X-Api-Key
    timeout=30.0,                # float or httpx.Timeout
)
client = DifyPluginClient(config)
'''

SEED_UPLOAD_AND_INSTALL = '''
from dify_plugin_client import DifyPluginClient, PluginConfig
from dify_plugin_client.entities.plugin import PluginInstallationSource
from uuid import uuid4

tenant_id = str(uuid4())
client = DifyPluginClient(PluginConfig(url="http://localhost:5002", key="plugin-api-key"))

with open("my_plugin.difypkg", "rb") as f:
    pkg_bytes = f.read()

decoded = client.upload_pkg(tenant_id=tenant_id, pkg=pkg_bytes, verify_signature=False)

task = client.install_from_identifiers(
    tenant_id=tenant_id,
    identifiers=[decoded.unique_identifier],
    source=PluginInstallationSource.Package,
    metas=[{}],
)

# simple poll loop
import time
for _ in range(60):
    t = client.fetch_plugin_installation_task(tenant_id, task.task_id)
    if t.status == "success":
        break
    if t.status == "failed":
        raise RuntimeError(f"Install failed: {[p.message for p in t.plugins]}")
    time.sleep(1)
'''

SEED_LIST_AND_MANIFEST = '''
plugins = client.list_plugins(tenant_id)
for p in plugins:
    print(p.name, p.version)
    manifest = client.fetch_plugin_manifest(tenant_id, p.plugin_unique_identifier)
    readme = client.fetch_plugin_readme(tenant_id, p.plugin_unique_identifier, language="en")
'''

SEED_INVOKE = '''
stream = client.invoke(
    tenant_id=tenant_id,
    user_id="user-123",
    tool_provider="organization/plugin_name/provider_name",
    tool_name="search",
    credentials={},  # provider-specific
    tool_parameters={"query": "hello world"},
)

for msg in stream:
    if msg.type == "text":
        print(msg.message.text, end="")
    elif msg.type == "json":
        print(msg.message.data)
'''

SEED_MISSING_DEPENDENCIES = '''
missing = client.fetch_missing_dependencies(tenant_id, ["plugin-a@1.0.0", "plugin-b@2.0.0"])
for dep in missing:
    print(dep.plugin_unique_identifier, dep.current_identifier)
'''

SEED_UNINSTALL = '''
client.uninstall(tenant_id, plugin_installation_id="abc123")
'''

SEED_UPGRADE = '''
client.upgrade_plugin(
    tenant_id,
    original_plugin_unique_identifier="plugin-a@1.0.0",
    new_plugin_unique_identifier="plugin-a@1.1.0",
    source=PluginInstallationSource.Package,
    meta={},
)
'''


def _seed_plugin():
    """A plugin answering to the names the seed's invoke example uses."""
    identity = {"author": "organization", "name": "provider_name",
                "label": {"en_US": "Provider"}, "description": {"en_US": "d"},
                "icon": "icon.svg"}
    tool = {"identity": {"author": "organization", "name": "search",
                         "label": {"en_US": "Search"}},
            "description": {"human": {"en_US": "Search"}, "llm": "Search"},
            "parameters": [{"name": "query", "type": "string", "required": True,
                            "label": {"en_US": "Query"}, "human_description": {"en_US": "q"},
                            "llm_description": "q", "form": "llm"}],
            "extra": {"python": {"source": "tools/search.py"}}}
    manifest = {"version": "1.0.0", "type": "plugin", "author": "organization",
                "name": "plugin_name", "label": {"en_US": "Plugin"},
                "description": {"en_US": "d"}, "icon": "icon.svg",
                "resource": {"memory": 268435456}, "created_at": "2024-01-01T00:00:00Z",
                "meta": {"version": "0.0.1", "arch": ["amd64"],
                         "runner": {"language": "python", "version": "3.12",
                                    "entrypoint": "main"}}}
    return build_package(manifest, {"identity": identity}, {"tools/search.yaml": tool},
                         readme="# Plugin")


@pytest.fixture
def seed_daemon(monkeypatch, tmp_path):
    fake = FakeDaemon(key="plugin-api-key", install_delay=0.01).start()
    real_split = dpc._split_url

    def point_localhost_5002_at_the_fake(url):
        scheme, host, port, base = real_split(url)
        if (host, port) == ("localhost", 5002):
            return scheme, "127.0.0.1", int(fake.url.rsplit(":", 1)[1]), base
        return scheme, host, port, base

    monkeypatch.setattr(dpc, "_split_url", point_localhost_5002_at_the_fake)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_plugin.difypkg").write_bytes(_seed_plugin())
    try:
        yield fake
    finally:
        fake.stop()


def _run(code, namespace):
    exec(compile(textwrap.dedent(code), "<seed README>", "exec"), namespace)
    return namespace


def test_the_seed_readme_flows_run_unchanged(seed_daemon, capsys):
    _run(SEED_CONFIGURATION, {})
    namespace = _run(SEED_UPLOAD_AND_INSTALL, {})
    tenant_id = namespace["tenant_id"]
    assert namespace["t"].status == "success"
    assert namespace["PluginInstallationSource"] is dpc.PluginInstallationSource
    _run(SEED_LIST_AND_MANIFEST, namespace)
    assert namespace["readme"] == "# Plugin" and namespace["manifest"].name == "plugin_name"
    assert capsys.readouterr().out == "plugin_name 1.0.0\n"
    seed_daemon.set_tool_handler("organization/plugin_name", "provider_name", "search",
                                 lambda request: [
                                     {"type": "text", "message": {"text": "found: "},
                                      "meta": None},
                                     {"type": "json", "message": {"json_object": {
                                         "query": request["data"]["tool_parameters"]["query"]}},
                                      "meta": None}])
    _run(SEED_INVOKE, namespace)
    assert capsys.readouterr().out == "found: {'query': 'hello world'}\n"
    # the placeholders of the last examples are refused by name, before anything is sent
    sent = len(seed_daemon.requests)
    for code, argument in ((SEED_MISSING_DEPENDENCIES, "plugin_unique_identifiers[0]"),
                           (SEED_UNINSTALL, "plugin_installation_id"),
                           (SEED_UPGRADE, "original_plugin_unique_identifier")):
        with pytest.raises(dpc.InvalidArgumentError) as info:
            _run(code, namespace)
        assert info.value.argument == argument
    assert len(seed_daemon.requests) == sent
    assert dpc.DifyPluginClient(dpc.PluginConfig(
        url="http://localhost:5002", key="plugin-api-key")).list_plugins(tenant_id)


def test_seed_import_paths_are_views_of_the_module():
    from dify_plugin_client.entities.bundle import PluginBundleDependency
    from dify_plugin_client.entities.plugin import PluginDeclaration, PluginInstallationSource
    from dify_plugin_client.entities.plugin_daemon import PluginInstallTask
    from dify_plugin_client.entities.tool import ToolInvokeMessage
    from dify_plugin_client.errors import PluginDaemonNotFoundError

    assert (PluginInstallationSource, PluginDeclaration, PluginInstallTask,
            PluginBundleDependency, ToolInvokeMessage, PluginDaemonNotFoundError) == (
        dpc.PluginInstallationSource, dpc.PluginDeclaration, dpc.PluginInstallTask,
        dpc.PluginBundleDependency, dpc.ToolInvokeMessage, dpc.PluginDaemonNotFoundError)
    with pytest.raises(ImportError):
        from dify_plugin_client.entities.plugin import NoSuchName  # noqa: F401


def test_an_httpx_timeout_is_taken():
    config = dpc.PluginConfig(url="http://localhost:5002", key="k" * 8,
                              timeout=httpx.Timeout(30.0, connect=5.0))
    assert config.timeout == dpc.Timeout(30.0, connect=5.0)
    assert dpc.Timeout(httpx.Timeout(None, connect=2.0)).read is None


def test_readme_api_table_names_real_parameters():
    """Every `name(arguments)` row of the README's API tables uses the method's real
    parameter names (calling with them as keywords must not be a TypeError)."""
    import inspect
    import os
    import re

    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "README.md"), encoding="utf-8").read()
    rows = re.findall(r"^\| `([a-z_]+)\(([^`]*)\)`", readme, re.M)
    assert len(rows) >= 20
    for name, arguments in rows:
        method = getattr(dpc.DifyPluginClient, name, None) or getattr(dpc, name)
        parameters = inspect.signature(method).parameters
        for argument in [a.strip().split("=")[0].strip("*") for a in arguments.split(",")]:
            if argument and argument != "...":
                assert argument in parameters, (name, argument, list(parameters))
    assert uuid  # (imported for the flows' own uuid4 import to mirror)
