"""echo-mod: flags any text that contains the word "forbidden"."""

from dify_plugin import ModerationModel

from models.common import ERROR_MAPPING, check_key, validate_key


class EchoModerationModel(ModerationModel):
    def _invoke(
        self, model: str, credentials: dict, text: str, user: str | None = None
    ) -> bool:
        check_key(credentials)
        return "forbidden" in text.lower()

    def validate_credentials(self, model: str, credentials: dict) -> None:
        validate_key(credentials)

    @property
    def _invoke_error_mapping(self) -> dict:
        return ERROR_MAPPING
