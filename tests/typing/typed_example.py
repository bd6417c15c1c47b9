"""A small program typed against dify_plugin_client, checked with mypy --strict in CI
(tox -e typecheck) and run against the fake daemon by tests/test_typing.py."""

from __future__ import annotations

import sys
from typing import Dict, List

from dify_plugin_client import (BlobMessage, DifyPluginClient, JsonMessage, PluginConfig,
                                PluginDaemonError, PluginEntity, PluginInstallationSource,
                                PluginInstallTask, TextMessage, Timeout, ToolInvokeMessage)


def install(client: DifyPluginClient, tenant_id: str, package: bytes) -> str:
    decoded = client.upload_pkg(tenant_id, package)
    start = client.install_from_identifiers(tenant_id, [decoded.unique_identifier],
                                            PluginInstallationSource.Package, [{}])
    if not start.all_installed:
        task: PluginInstallTask = client.wait_for_installation_task(
            tenant_id, start.task_id, timeout=30.0, poll_interval=0.05)
        assert task.finished
    return decoded.unique_identifier


def tool_texts(client: DifyPluginClient, tenant_id: str, provider: str,
               parameters: Dict[str, object]) -> List[str]:
    texts: List[str] = []
    message: ToolInvokeMessage
    for message in client.invoke(tenant_id, "user-1", provider, "echo", {},
                                 dict(parameters)):
        body = message.message
        if isinstance(body, TextMessage):
            texts.append(body.text)
        elif isinstance(body, JsonMessage):
            texts.append(repr(body.data))
        elif isinstance(body, BlobMessage):
            texts.append("%d bytes" % len(body.blob))
    return texts


def main(url: str, key: str, tenant_id: str, package_path: str) -> int:
    config = PluginConfig(url=url, key=key, timeout=Timeout(10.0, connect=2.0))
    with DifyPluginClient(config) as client:
        with open(package_path, "rb") as handle:
            identifier = install(client, tenant_id, handle.read())
        plugins: List[PluginEntity] = client.list_plugins(tenant_id)
        print(identifier, [plugin.plugin_id for plugin in plugins])
        try:
            print(tool_texts(client, tenant_id, "acme/echo/echo", {"text": "typed"}))
        except PluginDaemonError as error:
            print("daemon error:", error.error_type, error.code)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
