from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

DEFAULT_MESSAGE = "e2e_tools intentional failure"


class RaiseErrorTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        yield self.create_text_message("about to fail")
        raise ValueError(tool_parameters.get("message") or DEFAULT_MESSAGE)
