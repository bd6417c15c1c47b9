"""online_drive datasource "drive".

browse_files lists a fixed folder (folder/, file-1.txt, file-2.txt,
file-3.txt; ids are prefix + name) cut to max_keys; when cut, is_truncated
is true and next_page_parameters is {"offset": max_keys}. The listing always
starts at the first entry (next_page_parameters of the request is not used,
as in the recordings). download_file sends the file as one blob message:
"contents of <id> in <bucket>\\n" three times, meta {file_name, mime_type}.
"""

import posixpath
from collections.abc import Generator

from dify_plugin.entities.datasource import (
    DatasourceMessage,
    OnlineDriveBrowseFilesRequest,
    OnlineDriveBrowseFilesResponse,
    OnlineDriveDownloadFileRequest,
    OnlineDriveFile,
    OnlineDriveFileBucket,
)
from dify_plugin.interfaces.datasource.online_drive import OnlineDriveDatasource

ENTRIES = (
    ("folder/", "folder", 0, "folder"),
    ("file-1.txt", "file-1.txt", 10, "file"),
    ("file-2.txt", "file-2.txt", 20, "file"),
    ("file-3.txt", "file-3.txt", 30, "file"),
)


class EchoDriveDatasource(OnlineDriveDatasource):
    def _browse_files(self, request: OnlineDriveBrowseFilesRequest) -> OnlineDriveBrowseFilesResponse:
        prefix = request.prefix or ""
        max_keys = max(0, request.max_keys)
        files = [
            OnlineDriveFile(id=prefix + key, name=name, size=size, type=kind)
            for key, name, size, kind in ENTRIES
        ]
        truncated = len(files) > max_keys
        return OnlineDriveBrowseFilesResponse(
            result=[
                OnlineDriveFileBucket(
                    bucket=request.bucket,
                    files=files[:max_keys],
                    is_truncated=truncated,
                    next_page_parameters={"offset": max_keys} if truncated else None,
                )
            ]
        )

    def _download_file(self, request: OnlineDriveDownloadFileRequest) -> Generator[DatasourceMessage, None, None]:
        line = "contents of %s in %s\n" % (request.id, request.bucket)
        yield self.create_blob_message(
            (line * 3).encode("utf-8"),
            meta={"file_name": posixpath.basename(request.id), "mime_type": "text/plain"},
        )
