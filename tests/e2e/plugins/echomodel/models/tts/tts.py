"""echo-tts: fake audio. One chunk b"ID3\\x04\\x00\\x00", then one chunk
"<voice>:<word>" (UTF-8) per word of the text; a word "bulk:N" gives N chunks of
4 KiB instead (``bulk_piece``), for events large enough to take the client's
long-line path."""

from collections.abc import Generator

from dify_plugin import TTSModel

from models.common import ERROR_MAPPING, check_key, validate_key, words

HEADER = b"ID3\x04\x00\x00"


class EchoTTSModel(TTSModel):
    def _invoke(
        self,
        model: str,
        tenant_id: str,
        credentials: dict,
        content_text: str,
        voice: str,
        user: str | None = None,
    ) -> Generator[bytes, None, None]:
        check_key(credentials)
        return self._pieces(content_text, voice)

    @staticmethod
    def _pieces(content_text: str, voice: str) -> Generator[bytes, None, None]:
        yield HEADER
        for word in words(content_text):
            if word.startswith("bulk:") and word[5:].isdigit():
                for index in range(int(word[5:])):
                    yield bulk_piece(index)
            else:
                yield f"{voice}:{word}".encode("utf-8")

    def validate_credentials(self, model: str, credentials: dict) -> None:
        validate_key(credentials)

    @property
    def _invoke_error_mapping(self) -> dict:
        return ERROR_MAPPING


def bulk_piece(index: int) -> bytes:
    """The index-th 4 KiB chunk of "bulk:N": every byte value, shifted by index."""
    return bytes((index + offset) % 256 for offset in range(4096))
