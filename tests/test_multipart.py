"""The multipart encoder, checked by the standard library's own MIME parser."""

import email.parser
import email.policy
import io
import os

import pytest

import dify_plugin_client as dpc


def _encode(fields, field, filename, source):
    upload = dpc._UploadSource.open(source, "pkg", 1 << 30)
    body = dpc._MultipartBody(fields, field, filename, upload)
    data = b"".join(body.blocks())
    assert len(data) == body.length
    return body, data


def _parse(body, data):
    raw = b"Content-Type: " + body.content_type.encode() + b"\r\n\r\n" + data
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart() and not message.defects
    return list(message.iter_parts())


@pytest.mark.parametrize("content", [b"", b"abc", b"\r\n", b"--x\r\n--\r\n\r\n", bytes(range(256)) * 40])
def test_file_bytes_round_trip_exactly(content):
    body, data = _encode([("verify_signature", "false")], "dify_pkg", "dify_pkg", content)
    text_part, file_part = _parse(body, data)
    assert text_part.get_param("name", header="content-disposition") == "verify_signature"
    assert text_part.get_payload(decode=True) == b"false"
    assert file_part.get_param("name", header="content-disposition") == "dify_pkg"
    assert file_part.get_param("filename", header="content-disposition") == "dify_pkg"
    assert file_part.get_content_type() == "application/octet-stream"
    assert file_part.get_payload(decode=True) == content


def test_names_are_escaped_like_browsers_do():
    body, data = _encode([('a"b\r\nc', "v")], "f", 'x"\r\n.difypkg', b"z")
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b'name="a%22b%0D%0Ac"' in head
    assert b'filename="x%22%0D%0A.difypkg"' in data
    assert data.count(b"Content-Disposition") == 2  # one per part: nothing injected


def test_boundary_is_random_and_token_safe():
    first, _ = _encode([], "f", "n", b"")
    second, _ = _encode([], "f", "n", b"")
    assert first.boundary != second.boundary
    assert all(c.isalnum() or c == "-" for c in first.boundary) and len(first.boundary) <= 70


def test_sources_path_file_and_pipe(tmp_path):
    content = os.urandom(700_000)
    path = tmp_path / "p.difypkg"
    path.write_bytes(content)
    for source in (str(path), path, open(path, "rb")):
        body, data = _encode([], "dify_pkg", "p", source)
        assert _parse(body, data)[0].get_payload(decode=True) == content

    class Pipe(io.RawIOBase):  # not seekable: read into memory, capped
        def __init__(self):
            self.inner = io.BytesIO(content)

        def readable(self):
            return True

        def readinto(self, buffer):
            return self.inner.readinto(buffer)

    body, data = _encode([], "dify_pkg", "p", io.BufferedReader(Pipe()))
    assert _parse(body, data)[0].get_payload(decode=True) == content


def test_seekable_file_is_sent_from_its_current_position(tmp_path):
    handle = io.BytesIO(b"HEADERpayload")
    handle.read(6)
    body, data = _encode([], "f", "n", handle)
    assert _parse(body, data)[0].get_payload(decode=True) == b"payload"


def test_size_limit_is_checked_before_sending(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 101)
    with pytest.raises(dpc.PackageTooLargeError) as info:
        dpc._UploadSource.open(str(path), "pkg", 100)
    assert "MAX_PLUGIN_PACKAGE_SIZE" in str(info.value)
    with pytest.raises(dpc.InvalidArgumentError):
        dpc._UploadSource.open(str(tmp_path / "missing"), "pkg", 100)
    with pytest.raises(dpc.InvalidArgumentError):
        dpc._UploadSource.open(str(tmp_path), "pkg", 100)
    with pytest.raises(dpc.InvalidArgumentError):
        dpc._UploadSource.open(12, "pkg", 100)


def test_file_that_shrinks_while_sending_raises(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    upload = dpc._UploadSource.open(str(path), "pkg", 10_000)
    path.write_bytes(b"x" * 10)
    with pytest.raises(dpc.InvalidArgumentError):
        b"".join(upload.blocks())
