"""Tool runtime: declares runtime parameters (the deprecated
_get_runtime_parameters hook) and echoes its parameters as one json message.

Note: dify_plugin 0.10.2 registers no route for get_tool_runtime_parameters,
so the daemon's tool/get_runtime_parameters gets an empty stream."""

from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities import I18nObject
from dify_plugin.entities.tool import ToolInvokeMessage, ToolParameter


class RuntimeTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        yield self.create_json_message(dict(tool_parameters))

    def _get_runtime_parameters(self) -> list[ToolParameter]:
        return [
            ToolParameter(
                name="color",
                label=I18nObject(en_US="Color"),
                human_description=I18nObject(en_US="A color"),
                type=ToolParameter.ToolParameterType.STRING,
                form=ToolParameter.ToolParameterForm.LLM,
                llm_description="a color",
                required=False,
            ),
            ToolParameter(
                name="count",
                label=I18nObject(en_US="Count"),
                human_description=I18nObject(en_US="A number"),
                type=ToolParameter.ToolParameterType.NUMBER,
                form=ToolParameter.ToolParameterForm.FORM,
                required=False,
            ),
        ]
