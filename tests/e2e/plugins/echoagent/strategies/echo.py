"""Agent strategy "echo".

Stream: log (start), text "echo: <query>", json {params, query, user_id},
variable last_query, log (success, same id), blob (16 bytes, sent whole),
three blob_chunk messages built by hand (5000 x "A", 3000 x "B", empty end
chunk; the daemon merges them into one 8000-byte blob), link, text "done".
A query containing "fail" raises ValueError before anything is sent.
"""

import uuid
from collections.abc import Generator
from typing import Any

from dify_plugin import AgentStrategy
from dify_plugin.entities.agent import AgentInvokeMessage
from dify_plugin.entities.invoke_message import InvokeMessage

SMALL_BLOB = b"small-blob-bytes"
CHUNKS = (b"A" * 5000, b"B" * 3000)
MERGED_META = {"filename": "merged.bin", "mime_type": "application/octet-stream"}


class EchoAgentStrategy(AgentStrategy):
    def _invoke(self, parameters: dict[str, Any]) -> Generator[AgentInvokeMessage, None, None]:
        query = str(parameters.get("query") or "")
        if "fail" in query.lower():
            raise ValueError("echo strategy failed on purpose")

        round_log = self.create_log_message(
            label="Round 1",
            data={"query": query},
            status=InvokeMessage.LogMessage.LogStatus.START,
        )
        yield round_log
        answer = "echo: " + query
        yield self.create_text_message(answer)
        yield self.create_json_message(
            {"params": sorted(parameters), "query": query, "user_id": self.runtime.user_id}
        )
        yield self.create_variable_message("last_query", query)
        yield self.finish_log_message(
            round_log,
            status=InvokeMessage.LogMessage.LogStatus.SUCCESS,
            data={"output": answer},
        )
        yield self.create_blob_message(SMALL_BLOB, meta={"filename": "small.txt", "mime_type": "text/plain"})
        yield from self._blob_chunks()
        yield self.create_link_message("https://example.invalid/echo")
        yield self.create_text_message("done")

    @staticmethod
    def _blob_chunks() -> Generator[AgentInvokeMessage, None, None]:
        blob_id = uuid.uuid4().hex
        total = sum(len(c) for c in CHUNKS)
        pieces = list(CHUNKS) + [b""]
        for sequence, piece in enumerate(pieces):
            end = sequence == len(pieces) - 1
            yield AgentInvokeMessage(
                type=InvokeMessage.MessageType.BLOB_CHUNK,
                message=InvokeMessage.BlobChunkMessage(
                    id=blob_id,
                    sequence=sequence,
                    total_length=total,
                    blob=piece,
                    end=end,
                ),
                meta=MERGED_META if end else None,
            )
