from collections.abc import Mapping

from dify_plugin import ModelProvider
from dify_plugin.errors.model import CredentialsValidateFailedError

GOOD_KEY = "good"


class EchoModelProvider(ModelProvider):
    def validate_provider_credentials(self, credentials: Mapping) -> None:
        # The message never repeats the value that was sent.
        if credentials.get("api_key") != GOOD_KEY:
            raise CredentialsValidateFailedError("api_key must be 'good'")
