"""echo-llm: answers with the words of the last user message.

Special inputs (anywhere in the last user message, case-insensitive):
- ``call <tool> [args...]`` as the first word: after the words, one tool call
  ``<tool>`` with arguments ``{"args": [args...]}``; finish_reason ``tool_calls``.
- ``raise ratelimit`` / ``raise badrequest``: InvokeRateLimitError /
  InvokeBadRequestError before anything is streamed.
- ``fail midstream``: two word chunks, then a ValueError from inside the stream.

model_parameters.echo_prefix, when set, is put before the words.
"""

import json
import time
import uuid
from collections.abc import Generator

from dify_plugin import LargeLanguageModel
from dify_plugin.entities.model.llm import (
    LLMPollingResult,
    LLMPollingStatus,
    LLMResult,
    LLMResultChunk,
    LLMResultChunkDelta,
)
from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    PromptMessage,
    PromptMessageTool,
)
from dify_plugin.errors.model import InvokeBadRequestError, InvokeRateLimitError

from models.common import (
    ERROR_MAPPING,
    check_key,
    last_user_text,
    message_text,
    validate_key,
    words,
)

FINGERPRINT = "echo-fp-1"
MIDSTREAM_CHUNKS = 2


def _tool_call(text_words: list[str]) -> AssistantPromptMessage.ToolCall | None:
    if len(text_words) < 2 or text_words[0].lower() != "call":
        return None
    return AssistantPromptMessage.ToolCall(
        id="call_" + uuid.uuid4().hex[:12],
        type="function",
        function=AssistantPromptMessage.ToolCall.ToolCallFunction(
            name=text_words[1],
            arguments=json.dumps({"args": text_words[2:]}),
        ),
    )


class EchoLargeLanguageModel(LargeLanguageModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        prompt_messages: list[PromptMessage],
        model_parameters: dict,
        tools: list[PromptMessageTool] | None = None,
        stop: list[str] | None = None,
        stream: bool = True,
        user: str | None = None,
    ) -> LLMResult | Generator[LLMResultChunk, None, None]:
        check_key(credentials)
        text = last_user_text(prompt_messages)
        lowered = text.lower()
        if "raise ratelimit" in lowered:
            raise InvokeRateLimitError("echo rate limit for testing")
        if "raise badrequest" in lowered:
            raise InvokeBadRequestError("echo bad request for testing")

        text_words = words(text)
        prefix = model_parameters.get("echo_prefix")
        reply = ([prefix] if prefix else []) + text_words
        prompt_tokens = self._count_messages(prompt_messages)
        tool_call = _tool_call(text_words)
        fail_midstream = "fail midstream" in lowered

        if stream:
            return self._stream(model, credentials, reply, prompt_tokens, tool_call, fail_midstream)

        if fail_midstream:
            raise ValueError("echo failure (non-streaming)")
        usage = self._calc_response_usage(model, credentials, prompt_tokens, len(reply))
        return LLMResult(
            model=model,
            message=AssistantPromptMessage(
                content=" ".join(reply),
                tool_calls=[tool_call] if tool_call else [],
            ),
            usage=usage,
            system_fingerprint=FINGERPRINT,
        )

    def _stream(
        self,
        model: str,
        credentials: dict,
        reply: list[str],
        prompt_tokens: int,
        tool_call: AssistantPromptMessage.ToolCall | None,
        fail_midstream: bool,
    ) -> Generator[LLMResultChunk, None, None]:
        index = 0
        for word in reply:
            if fail_midstream and index == MIDSTREAM_CHUNKS:
                raise ValueError("echo failure in the middle of the stream")
            yield LLMResultChunk(
                model=model,
                system_fingerprint=FINGERPRINT,
                delta=LLMResultChunkDelta(
                    index=index,
                    message=AssistantPromptMessage(content=word + " "),
                ),
            )
            index += 1
        if fail_midstream:
            raise ValueError("echo failure in the middle of the stream")
        if tool_call is not None:
            yield LLMResultChunk(
                model=model,
                delta=LLMResultChunkDelta(
                    index=index,
                    message=AssistantPromptMessage(content="", tool_calls=[tool_call]),
                ),
            )
            index += 1
        usage = self._calc_response_usage(model, credentials, prompt_tokens, len(reply))
        yield LLMResultChunk(
            model=model,
            system_fingerprint=FINGERPRINT,
            delta=LLMResultChunkDelta(
                index=index,
                message=AssistantPromptMessage(content=""),
                usage=usage,
                finish_reason="tool_calls" if tool_call is not None else "stop",
            ),
        )

    # -- polling (LLMPollingResult) -------------------------------------
    def _start_polling(
        self,
        model: str,
        credentials: dict,
        prompt_messages: list[PromptMessage],
        model_parameters: dict,
        tools: list[PromptMessageTool] | None = None,
        stop: list[str] | None = None,
        stream: bool = False,
        user: str | None = None,
        *,
        json_schema: dict | None = None,
    ) -> LLMPollingResult:
        check_key(credentials)
        text = last_user_text(prompt_messages)
        return LLMPollingResult(
            status=LLMPollingStatus.RUNNING,
            plugin_state={
                "job_id": "job-" + uuid.uuid4().hex[:8],
                "prompt_tokens": self._count_messages(prompt_messages),
                "started": int(time.time()),
                "text": text,
            },
            next_check_after_seconds=1,
            expires_after_seconds=60,
            max_attempts=5,
        )

    def _check_polling(
        self,
        model: str,
        credentials: dict,
        plugin_state: dict,
        user: str | None = None,
    ) -> LLMPollingResult:
        check_key(credentials)
        if plugin_state.get("fail"):
            return LLMPollingResult(
                status=LLMPollingStatus.FAILED,
                error="echo polling failed on request",
            )
        text = str(plugin_state.get("text", ""))
        prompt_tokens = int(plugin_state.get("prompt_tokens") or 0)
        usage = self._calc_response_usage(model, credentials, prompt_tokens, len(words(text)))
        return LLMPollingResult(
            status=LLMPollingStatus.SUCCEEDED,
            result=LLMResult(
                model=model,
                message=AssistantPromptMessage(content=text),
                usage=usage,
            ),
        )

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def _count_messages(prompt_messages: list[PromptMessage]) -> int:
        return sum(len(words(message_text(m))) for m in prompt_messages)

    def get_num_tokens(
        self,
        model: str,
        credentials: dict,
        prompt_messages: list[PromptMessage],
        tools: list[PromptMessageTool] | None = None,
    ) -> int:
        total = self._count_messages(prompt_messages)
        for tool in tools or []:
            total += len(words(tool.name)) + len(words(tool.description or ""))
        return total

    def validate_credentials(self, model: str, credentials: dict) -> None:
        validate_key(credentials)

    @property
    def _invoke_error_mapping(self) -> dict:
        return ERROR_MAPPING
