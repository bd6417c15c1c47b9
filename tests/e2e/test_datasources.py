"""Datasources against the real daemon: discovery, credentials, website crawl, online
document pages and content, online drive browse and download, and the CLI
(tests/e2e/plugins/echodocs, echodrive, echocrawl)."""

import json

import pytest

from e2e_support import GOOD, USER, dpc, tenant_with_plugins

DOCS, DRIVE, CRAWL = ("e2etest/echodocs/echodocs", "e2etest/echodrive/echodrive",
                      "e2etest/echocrawl/echocrawl")


@pytest.fixture(scope="module")
def tenant(client, tenants):
    return tenant_with_plugins(client, tenants, "echodocs", "echodrive", "echocrawl")


def test_discovery(client, tenant):
    providers = {p.full_name: p for p in client.fetch_datasource_providers(tenant)}
    assert sorted(providers) == sorted([DOCS, DRIVE, CRAWL])
    assert {name: p.declaration.provider_type for name, p in providers.items()} == {
        DOCS: "online_document", DRIVE: "online_drive", CRAWL: "website_crawl"}
    docs = client.fetch_datasource_provider(tenant, DOCS).declaration
    assert docs.datasource("docs").identity.provider == DOCS
    assert docs.credentials_schema[0].name == "api_key"
    with pytest.raises(dpc.PluginNotFoundError):
        client.fetch_datasource_provider(tenant, "e2etest/echodocs/nope")


def test_credentials(client, tenant):
    assert client.validate_datasource_credentials(tenant, USER, DOCS, GOOD) is True
    with pytest.raises(dpc.PluginInvokeError) as info:
        client.validate_datasource_credentials(tenant, USER, DOCS, {"api_key": "wrong-key-1"})
    assert info.value.invoke_error_type == "DatasourceCredentialValidationError"
    assert "wrong-key-1" not in str(info.value)


def test_website_crawl(client, tenant):
    results = list(client.get_website_crawl(tenant, USER, CRAWL, "crawl", GOOD, {"topic": "t1"}))
    assert [(r.status, r.completed, r.total) for r in results] == [("processing", 0, 2),
                                                                   ("completed", 2, 2)]
    assert [p.source_url for p in results[1].web_info_list] == [
        "https://example.invalid/t1/1", "https://example.invalid/t1/2"]
    with pytest.raises(dpc.PluginInvokeError):
        list(client.get_website_crawl(tenant, USER, CRAWL, "nope", GOOD, {}))


def test_online_document(client, tenant):
    [workspace] = client.get_online_document_pages(tenant, USER, DOCS, "docs", GOOD,
                                                   {"topic": "T"})
    assert (workspace.workspace_id, workspace.total) == ("ws-1", 2)
    assert [(p.page_id, p.parent_id) for p in workspace.pages] == [("p-1", None), ("p-2", "p-1")]
    page = {"workspace_id": "ws-1", "page_id": "p-1", "type": "page"}
    messages = list(client.get_online_document_page_content(tenant, USER, DOCS, "docs", GOOD,
                                                            page))
    assert [m.type for m in messages] == ["text", "variable", "json"]
    assert messages[0].message.text == "content of ws-1/p-1 (page)"
    with pytest.raises(dpc.PluginInvokeError) as info:
        list(client.get_online_document_page_content(tenant, USER, DOCS, "docs", GOOD,
                                                     dict(page, page_id="missing")))
    assert info.value.message == "page not found: missing"


def test_online_drive(client, tenant):
    [bucket] = client.online_drive_browse_files(tenant, USER, DRIVE, "drive", GOOD,
                                                prefix="docs/", max_keys=2, bucket="b1")
    assert bucket.bucket == "b1" and bucket.is_truncated
    assert [(f.id, f.type) for f in bucket.files] == [("docs/folder/", "folder"),
                                                      ("docs/file-1.txt", "file")]
    assert bucket.next_page_parameters == {"offset": 2}
    [everything] = client.online_drive_browse_files(tenant, USER, DRIVE, "drive", GOOD,
                                                    max_keys=10)
    assert everything.bucket is None and len(everything.files) == 4
    [blob] = list(client.online_drive_download_file(tenant, USER, DRIVE, "drive", GOOD,
                                                    "docs/file-1.txt", bucket="b1"))
    assert blob.type == "blob"
    assert blob.message.blob == b"contents of docs/file-1.txt in b1\n" * 3
    assert blob.meta == {"file_name": "file-1.txt", "mime_type": "text/plain"}


def test_cli(cli, tenant, tmp_path):
    run = cli("datasources", "validate", "--provider", DOCS, "--credentials", json.dumps(GOOD),
              tenant=tenant)
    assert run.rc == 0 and run.out == "valid\n"
    bad = cli("datasources", "validate", "--provider", DOCS, "--credentials",
              '{"api_key": "nope-key"}', tenant=tenant)
    assert bad.rc == 1 and bad.out.startswith("not valid: ")  # the plugin's reason
    assert "nope-key" not in bad.out + bad.err
    crawl = cli("datasources", "crawl", "--provider", CRAWL, "--datasource", "crawl",
                "--params", '{"topic": "t2"}', "--credentials", json.dumps(GOOD), tenant=tenant)
    assert crawl.rc == 0 and "completed 2/2" in crawl.err and "example.invalid/t2/1" in crawl.out
    pages = cli("datasources", "pages", "--provider", DOCS, "--datasource", "docs", "--params",
                "{}", "--credentials", json.dumps(GOOD), tenant=tenant)
    assert pages.rc == 0 and "p-2" in pages.out
    browse = cli("datasources", "browse", "--provider", DRIVE, "--datasource", "drive",
                 "--max-keys", "1", "--credentials", json.dumps(GOOD), tenant=tenant)
    assert browse.rc == 0 and "--next-page" in browse.err
    download = cli("datasources", "download", "--provider", DRIVE, "--datasource", "drive",
                   "--file-id", "file-2.txt", "--credentials", json.dumps(GOOD),
                   "--output-dir", str(tmp_path), tenant=tenant)
    assert download.rc == 0, download
    assert (tmp_path / "file-2.txt").read_bytes() == b"contents of file-2.txt in None\n" * 3
