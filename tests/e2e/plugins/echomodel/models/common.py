"""Helpers shared by the echo models (no model classes here)."""

import time
from collections.abc import Mapping

from dify_plugin.entities.model.message import PromptMessage, UserPromptMessage
from dify_plugin.errors.model import (
    CredentialsValidateFailedError,
    InvokeAuthorizationError,
    InvokeBadRequestError,
    InvokeConnectionError,
    InvokeError,
    InvokeRateLimitError,
    InvokeServerUnavailableError,
)

GOOD_KEY = "good"

# Every echo model maps the SDK's own Invoke* errors to themselves, and plain
# ValueError/KeyError raised before streaming starts to a bad request.
ERROR_MAPPING: dict[type[InvokeError], list[type[Exception]]] = {
    InvokeAuthorizationError: [InvokeAuthorizationError],
    InvokeRateLimitError: [InvokeRateLimitError],
    InvokeBadRequestError: [InvokeBadRequestError, ValueError, KeyError],
    InvokeConnectionError: [InvokeConnectionError],
    InvokeServerUnavailableError: [InvokeServerUnavailableError],
}


def check_key(credentials: Mapping) -> None:
    """Used on invocation: a wrong key is an authorization error."""
    if credentials.get("api_key") != GOOD_KEY:
        raise InvokeAuthorizationError("bad api_key")


def validate_key(credentials: Mapping) -> None:
    """Used by validate_credentials: a wrong key fails validation."""
    if credentials.get("api_key") != GOOD_KEY:
        raise CredentialsValidateFailedError("api_key must be 'good'")


def words(text: str) -> list[str]:
    return text.split()


def message_text(message: PromptMessage) -> str:
    """The text of a prompt message: a string, or the text parts of a list."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        data = getattr(part, "data", None)
        if getattr(part, "type", None) == "text" and isinstance(data, str):
            parts.append(data)
    return " ".join(parts)


def last_user_text(messages: list[PromptMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, UserPromptMessage):
            return message_text(message)
    return ""


def elapsed(started_at: float) -> float:
    return time.perf_counter() - started_at if started_at else 0.0
