from collections.abc import Mapping
from typing import Any

from dify_plugin.errors.tool import DatasourceCredentialValidationError
from dify_plugin.interfaces.datasource import DatasourceProvider

GOOD_KEY = "good"


class EchoDatasourceProvider(DatasourceProvider):
    def _validate_credentials(self, credentials: Mapping[str, Any]) -> None:
        if credentials.get("api_key") != GOOD_KEY:
            raise DatasourceCredentialValidationError("api_key must be 'good'")
