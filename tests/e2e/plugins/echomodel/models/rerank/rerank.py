"""echo-rerank: score = share of the query's words found in the document.

Words are compared lower-cased; the score is rounded to 4 digits. Documents
below score_threshold are dropped, the rest sorted by score (stable), then cut
to top_n.
"""

from collections.abc import Sequence

from dify_plugin import RerankModel
from dify_plugin.entities.model.rerank import (
    MultiModalRerankResult,
    RerankDocument,
    RerankResult,
)
from dify_plugin.entities.model.text_embedding import MultiModalContent

from models.common import ERROR_MAPPING, check_key, validate_key


def _rank(
    query: str, docs: Sequence[str], score_threshold: float | None, top_n: int | None
) -> list[RerankDocument]:
    query_words = set(query.lower().split())
    ranked = []
    for index, text in enumerate(docs):
        overlap = query_words & set(text.lower().split())
        score = round(len(overlap) / len(query_words), 4) if query_words else 0.0
        if score_threshold is not None and score < score_threshold:
            continue
        ranked.append(RerankDocument(index=index, text=text, score=score))
    ranked.sort(key=lambda d: d.score, reverse=True)
    if top_n is not None:
        ranked = ranked[:top_n]
    return ranked


class EchoRerankModel(RerankModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        query: str,
        docs: list[str],
        score_threshold: float | None = None,
        top_n: int | None = None,
        user: str | None = None,
    ) -> RerankResult:
        check_key(credentials)
        return RerankResult(model=model, docs=_rank(query, docs, score_threshold, top_n))

    def _invoke_multimodal(
        self,
        model: str,
        credentials: dict,
        query: MultiModalContent,
        docs: Sequence[MultiModalContent],
        score_threshold: float | None = None,
        top_n: int | None = None,
        user: str | None = None,
    ) -> MultiModalRerankResult:
        check_key(credentials)
        ranked = _rank(query.content, [d.content for d in docs], score_threshold, top_n)
        return MultiModalRerankResult(model=model, docs=ranked)

    def validate_credentials(self, model: str, credentials: dict) -> None:
        validate_key(credentials)

    @property
    def _invoke_error_mapping(self) -> dict:
        return ERROR_MAPPING
