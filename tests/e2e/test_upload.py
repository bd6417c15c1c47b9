"""Uploading packages: the three kinds of source, and what is refused (by whom)."""

import json
import os

import pytest

from e2e_support import dpc, make_client


def test_upload_bytes_path_and_file_object_agree(client, tenant, pkgs):
    old = pkgs.old
    from_bytes = client.upload_pkg(tenant, old.data)
    from_path = client.upload_pkg(tenant, old.path)
    with open(old.path, "rb") as handle:
        from_file = client.upload_pkg(tenant, handle)
    for decoded in (from_bytes, from_path, from_file):
        assert isinstance(decoded, dpc.PluginDecodeResponse)
        # the daemon's identifier is the one computed from the package's bytes
        assert decoded.unique_identifier == old.identifier
        manifest = decoded.manifest
        assert (manifest.author, manifest.name, manifest.version) == (
            "e2etest", "e2e_tools", old.version)
        assert manifest.category == "tool"
        assert [t.identity.name for t in manifest.tool.tools] == ["echo_types", "raise_error"]


def test_upload_of_a_build_without_readme_has_its_own_identifier(client, tenant, pkgs):
    decoded = client.upload_pkg(tenant, pkgs.noreadme.data)
    assert decoded.unique_identifier == pkgs.noreadme.identifier
    assert decoded.unique_identifier != pkgs.old.identifier


def test_upload_asking_for_a_signature_refuses_an_unsigned_package(client, tenant, pkgs):
    with pytest.raises(dpc.PluginDaemonBadRequestError) as refused:
        client.upload_pkg(tenant, pkgs.old.data, verify_signature=True)
    assert "signature" in refused.value.message


@pytest.mark.parametrize("data", [b"this is not a zip file", b"", b"PK\x03\x04truncated"],
                         ids=["not-a-zip", "empty", "truncated"])
def test_corrupt_package_is_a_bad_request(client, tenant, data):
    with pytest.raises(dpc.PluginDaemonBadRequestError) as refused:
        client.upload_pkg(tenant, data)
    assert refused.value.code == -400
    assert "difypkg" in refused.value.message


def _oversize_file(folder):
    path = os.path.join(folder, "oversize.difypkg")
    with open(path, "wb") as handle:  # sparse: 50 MiB + 1 byte without writing them
        handle.truncate(50 * 1024 * 1024 + 1)
    return path


def test_oversize_package_is_refused_client_side(closed_url, tmp_path, tenant):
    path = _oversize_file(str(tmp_path))
    # A client aimed at a closed port: PackageTooLargeError rather than ConnectError shows
    # that nothing was sent.
    with make_client(closed_url, "any-key", retries=0) as nowhere:
        with pytest.raises(dpc.PackageTooLargeError) as refused:
            nowhere.upload_pkg(tenant, path)
        assert "50" in str(refused.value)
        with pytest.raises(dpc.PackageTooLargeError):
            nowhere.upload_pkg(tenant, b"\0" * (50 * 1024 * 1024 + 1))
    # a smaller limit of one's own is applied the same way
    with make_client(closed_url, "any-key", retries=0, max_package_size=1024) as small:
        with pytest.raises(dpc.PackageTooLargeError):
            small.upload_pkg(tenant, b"\0" * 1025)


def test_oversize_package_is_refused_by_the_real_client_too(client, tmp_path, tenant):
    with pytest.raises(dpc.PackageTooLargeError):
        client.upload_pkg(tenant, _oversize_file(str(tmp_path)))


def test_cli_upload_pkg(cli, tenant, pkgs):
    result = cli("upload-pkg", "--file", pkgs.old.path, tenant=tenant)
    assert result.rc == 0, result
    assert result.out.strip() == pkgs.old.identifier
    assert "not installed" in result.err
    result = cli("upload-pkg", "--file", pkgs.old.path, "--json", tenant=tenant)
    assert result.rc == 0, result
    answer = json.loads(result.out)
    assert answer["unique_identifier"] == pkgs.old.identifier
    assert answer["manifest"]["version"] == pkgs.old.version


def test_cli_upload_of_corrupt_and_oversize_packages(cli, tenant, tmp_path):
    corrupt = tmp_path / "corrupt.difypkg"
    corrupt.write_bytes(b"this is not a zip file")
    result = cli("upload-pkg", "--file", str(corrupt), tenant=tenant)
    assert result.rc == 1, result
    assert "difypkg" in result.err
    result = cli("upload-pkg", "--file", _oversize_file(str(tmp_path)), tenant=tenant)
    assert result.rc == 2, result
