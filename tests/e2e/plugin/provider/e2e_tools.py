from typing import Any

from dify_plugin import ToolProvider


class E2eToolsProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict[str, Any]) -> None:
        # No credentials: anything validates.
        return None
