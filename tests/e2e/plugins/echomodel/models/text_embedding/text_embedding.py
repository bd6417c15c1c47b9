"""echo-embed: 8-dimensional vectors made from sha256.

Each vector is the first 8 bytes of sha256(key), byte b -> round(b / 127.5 - 1, 6).
key is the text for input_type "document" and "query:" + text for "query".
Multimodal documents use "<content_type>:<content>" (with the same "query:"
prefix for queries). Tokens are whitespace-separated words.
"""

import hashlib

from dify_plugin import TextEmbeddingModel
from dify_plugin.entities.model import EmbeddingInputType, PriceType
from dify_plugin.entities.model.text_embedding import (
    EmbeddingUsage,
    MultiModalContent,
    MultiModalEmbeddingResult,
    TextEmbeddingResult,
)

from models.common import ERROR_MAPPING, check_key, elapsed, validate_key, words

DIMENSIONS = 8


def _vector(key: str) -> list[float]:
    digest = hashlib.sha256(key.encode("utf-8")).digest()[:DIMENSIONS]
    return [round(b / 127.5 - 1, 6) for b in digest]


def _prefix(input_type: EmbeddingInputType) -> str:
    return "query:" if input_type == EmbeddingInputType.QUERY else ""


class EchoTextEmbeddingModel(TextEmbeddingModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        texts: list[str],
        user: str | None = None,
        input_type: EmbeddingInputType = EmbeddingInputType.DOCUMENT,
    ) -> TextEmbeddingResult:
        check_key(credentials)
        prefix = _prefix(input_type)
        tokens = sum(len(words(t)) for t in texts)
        return TextEmbeddingResult(
            model=model,
            embeddings=[_vector(prefix + t) for t in texts],
            usage=self._usage(model, credentials, tokens),
        )

    def _invoke_multimodal(
        self,
        model: str,
        credentials: dict,
        documents: list[MultiModalContent],
        user: str | None = None,
        input_type: EmbeddingInputType = EmbeddingInputType.DOCUMENT,
    ) -> MultiModalEmbeddingResult:
        check_key(credentials)
        prefix = _prefix(input_type)
        tokens = sum(len(words(d.content)) for d in documents)
        return MultiModalEmbeddingResult(
            model=model,
            embeddings=[_vector(f"{prefix}{d.content_type}:{d.content}") for d in documents],
            usage=self._usage(model, credentials, tokens),
        )

    def _usage(self, model: str, credentials: dict, tokens: int) -> EmbeddingUsage:
        price = self.get_price(model, credentials, PriceType.INPUT, tokens)
        return EmbeddingUsage(
            tokens=tokens,
            total_tokens=tokens,
            unit_price=price.unit_price,
            price_unit=price.unit,
            total_price=price.total_amount,
            currency=price.currency,
            latency=elapsed(self.started_at),
        )

    def get_num_tokens(self, model: str, credentials: dict, texts: list[str]) -> list[int]:
        return [len(words(t)) for t in texts]

    def validate_credentials(self, model: str, credentials: dict) -> None:
        validate_key(credentials)

    @property
    def _invoke_error_mapping(self) -> dict:
        return ERROR_MAPPING
