"""echo-s2t: fixed text with the size of the audio and the file suffix the
SDK chose for it (from the audio header: .wav, .mp3, ...)."""

import os
from typing import IO

from dify_plugin import Speech2TextModel

from models.common import ERROR_MAPPING, check_key, validate_key


class EchoSpeech2TextModel(Speech2TextModel):
    def _invoke(
        self, model: str, credentials: dict, file: IO[bytes], user: str | None = None
    ) -> str:
        check_key(credentials)
        data = file.read()
        suffix = os.path.splitext(str(getattr(file, "name", "")))[1]
        return f"hello from echo speech2text ({len(data)} bytes, {suffix})"

    def validate_credentials(self, model: str, credentials: dict) -> None:
        validate_key(credentials)

    @property
    def _invoke_error_mapping(self) -> dict:
        return ERROR_MAPPING
