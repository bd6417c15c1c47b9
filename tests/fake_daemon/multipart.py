"""multipart/form-data parsing over a spooled request body (Go's ParseMultipartForm / FormFile).

The body stays in its spool file: parts are located by offset
(:func:`_parse_multipart`) and read or hashed in blocks, so a 200 MiB upload is
never held in memory.  :class:`_MultipartForm` gives the ``FormFile`` /
``PostForm`` views the upload routes use.
"""

import email.message
import email.utils
import hashlib
import io
import os

from .wire import _bad_request

SCAN_BLOCK = 1 << 20                     # multipart boundary scan window


# --------------------------------------------------------------------------
# Multipart parsing over a spooled body (streaming, never the whole body in memory)
# --------------------------------------------------------------------------


class _Window(io.RawIOBase):
    """A read-only, seekable view of bytes [start, end) of another file."""

    def __init__(self, base, start, end):
        io.RawIOBase.__init__(self)
        self._base, self._start, self._end, self._pos = base, start, end, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=0):
        size = self._end - self._start
        base = {0: 0, 1: self._pos, 2: size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer):
        left = (self._end - self._start) - self._pos
        count = min(len(buffer), max(0, left))
        if count == 0:
            return 0
        self._base.seek(self._start + self._pos)
        data = self._base.read(count)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)


def _find(fileobj, needle, start, end):
    """Offset of ``needle`` in fileobj[start:end], scanning in blocks; -1 if absent."""
    overlap = len(needle) - 1
    pos = start
    while pos < end:
        fileobj.seek(pos)
        data = fileobj.read(min(SCAN_BLOCK, end - pos))
        if not data:
            return -1
        index = data.find(needle)
        if index >= 0:
            return pos + index
        if pos + len(data) >= end:
            return -1
        pos += max(1, len(data) - overlap)
    return -1


class _Part(object):
    def __init__(self, name, filename, headers, start, end):
        self.name, self.filename, self.headers = name, filename, headers
        self.start, self.end = start, end

    @property
    def size(self):
        return self.end - self.start


def _header_message(name, value):
    """An email Message holding one header, for its RFC 2045/2231 parameter parsing."""
    message = email.message.Message()
    message[name] = value
    return message


def _header_param(message, param, header):
    value = message.get_param(param, header=header)
    if isinstance(value, tuple):
        value = email.utils.collapse_rfc2231_value(value)
    return value if isinstance(value, str) else None


def _parse_part_headers(block):
    headers = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        if b":" not in line:
            raise _bad_request("malformed MIME header line: " + line.decode("latin-1"))
        name, value = line.split(b":", 1)
        headers[name.decode("latin-1").strip().lower()] = value.decode("utf-8", "replace").strip()
    return headers


def _parse_multipart(fileobj, size, boundary):
    """List the parts of a multipart body in ``fileobj`` (offsets, no copies)."""
    dash = b"--" + boundary
    pos = _find(fileobj, dash, 0, size)
    parts = []
    while True:
        if pos < 0:
            raise _bad_request("multipart: NextPart: EOF")
        fileobj.seek(pos + len(dash))
        tail = fileobj.read(2)
        if tail == b"--":
            return parts
        line_end = _find(fileobj, b"\n", pos + len(dash), min(size, pos + len(dash) + 1024))
        if line_end < 0:
            raise _bad_request("multipart: NextPart: EOF")
        header_start = line_end + 1
        fileobj.seek(header_start)
        block = fileobj.read(64 << 10)
        if block.startswith(b"\r\n"):
            header_block, data_start = b"", header_start + 2
        else:
            index = block.find(b"\r\n\r\n")
            if index < 0:
                raise _bad_request("multipart: NextPart: EOF")
            header_block, data_start = block[:index], header_start + index + 4
        headers = _parse_part_headers(header_block)
        data_end = _find(fileobj, b"\r\n" + dash, data_start, size)
        if data_end < 0:
            raise _bad_request("unexpected EOF")
        disposition = _header_message("content-disposition", headers.get("content-disposition", ""))
        name = _header_param(disposition, "name", "content-disposition")
        filename = disposition.get_filename()
        parts.append(_Part(name, os.path.basename(filename) if filename else None, headers, data_start, data_end))
        pos = data_end + 2


class _MultipartForm(object):
    """Parsed multipart body: Go's FormFile / PostForm views."""

    def __init__(self, fileobj, parts):
        self._file = fileobj
        self.parts = parts

    def file(self, name):
        for part in self.parts:
            if part.name == name and part.filename:
                return part
        return None

    def value(self, name):
        for part in self.parts:
            if part.name == name and not part.filename:
                return self.read(part, limit=1 << 20).decode("utf-8", "replace")
        return ""

    def values(self):
        out = {}
        for part in self.parts:
            if part.name is not None and not part.filename:
                out.setdefault(part.name, []).append(self.read(part, limit=1 << 20).decode("utf-8", "replace"))
        return out

    def read(self, part, limit=None):
        self._file.seek(part.start)
        return self._file.read(part.size if limit is None else min(limit, part.size))

    def open(self, part):
        return _Window(self._file, part.start, part.end)

    def digest(self, part):
        digest = hashlib.sha256()
        self._file.seek(part.start)
        left = part.size
        while left > 0:
            data = self._file.read(min(SCAN_BLOCK, left))
            if not data:
                break
            digest.update(data)
            left -= len(data)
        return digest.hexdigest()
