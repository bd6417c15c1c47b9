"""online_document datasource "docs".

get_pages: one workspace "ws-1" with two pages (p-1 "Page one <topic>",
p-2 "Child page" under p-1). get_content: text, variable "title" and json
messages for the page; page_id "missing" raises ValueError.
"""

from collections.abc import Generator, Mapping
from typing import Any

from dify_plugin.entities.datasource import (
    DatasourceGetPagesResponse,
    DatasourceMessage,
    GetOnlineDocumentPageContentRequest,
    OnlineDocumentInfo,
    OnlineDocumentPage,
)
from dify_plugin.interfaces.datasource.online_document import OnlineDocumentDatasource


class EchoDocsDatasource(OnlineDocumentDatasource):
    def _get_pages(self, datasource_parameters: Mapping[str, Any]) -> DatasourceGetPagesResponse:
        topic = str(datasource_parameters.get("topic") or "")
        pages = [
            OnlineDocumentPage(
                page_id="p-1",
                page_name=("Page one " + topic).strip(),
                page_icon=None,
                type="page",
                last_edited_time="2026-01-01T00:00:00Z",
                parent_id=None,
            ),
            OnlineDocumentPage(
                page_id="p-2",
                page_name="Child page",
                page_icon={"type": "emoji", "emoji": "x"},
                type="page",
                last_edited_time="2026-01-02T00:00:00Z",
                parent_id="p-1",
            ),
        ]
        workspace = OnlineDocumentInfo(
            workspace_id="ws-1",
            workspace_name="Echo workspace",
            workspace_icon="https://example.invalid/ws.png",
            total=len(pages),
            pages=pages,
        )
        return DatasourceGetPagesResponse(result=[workspace])

    def _get_content(self, page: GetOnlineDocumentPageContentRequest) -> Generator[DatasourceMessage, None, None]:
        if page.page_id == "missing":
            raise ValueError("page not found: %s" % page.page_id)
        yield self.create_text_message("content of %s/%s (%s)" % (page.workspace_id, page.page_id, page.type))
        yield self.create_variable_message("title", "Title of %s" % page.page_id)
        yield self.create_json_message(
            {"content": "hello", "page_id": page.page_id, "workspace_id": page.workspace_id}
        )
