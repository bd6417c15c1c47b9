"""Tool provider echotool: api_key credentials ("good" is valid) and OAuth.

OAuth (client_id / client_secret; client_secret must be "s3cret"):
- authorization URL: https://auth.example.invalid/authorize?client_id=..&redirect_uri=..&response_type=code&state=echo-state
- credentials from the callback request's ?code=<code>: access_token "at-<code>",
  refresh_token "rt-<code>", callback_method, callback_path; expires in 1 hour;
- refresh: access_token "at-refreshed-<refresh_token>", expires in 2 hours.
"""

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from dify_plugin import ToolProvider
from dify_plugin.entities.oauth import ToolOAuthCredentials
from dify_plugin.errors.tool import ToolProviderCredentialValidationError, ToolProviderOAuthError
from werkzeug import Request

GOOD_KEY = "good"
CLIENT_SECRET = "s3cret"
AUTHORIZE_URL = "https://auth.example.invalid/authorize"
STATE = "echo-state"


def _check_client(system_credentials: Mapping[str, Any]) -> None:
    if system_credentials.get("client_secret") != CLIENT_SECRET:
        raise ToolProviderOAuthError("client_secret must be 's3cret'")


class EchoToolProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict[str, Any]) -> None:
        if credentials.get("api_key") != GOOD_KEY:
            raise ToolProviderCredentialValidationError("api_key must be 'good'")

    def _oauth_get_authorization_url(self, redirect_uri: str, system_credentials: Mapping[str, Any]) -> str:
        query = urlencode(
            {
                "client_id": system_credentials.get("client_id", ""),
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "state": STATE,
            }
        )
        return AUTHORIZE_URL + "?" + query

    def _oauth_get_credentials(
        self, redirect_uri: str, system_credentials: Mapping[str, Any], request: Request
    ) -> ToolOAuthCredentials:
        code = request.args.get("code")
        if not code:
            raise ToolProviderOAuthError("no ?code= in the callback request")
        _check_client(system_credentials)
        return ToolOAuthCredentials(
            credentials={
                "access_token": "at-" + code,
                "refresh_token": "rt-" + code,
                "callback_method": request.method,
                "callback_path": request.path,
            },
            expires_at=int(time.time()) + 3600,
        )

    def _oauth_refresh_credentials(
        self, redirect_uri: str, system_credentials: Mapping[str, Any], credentials: Mapping[str, Any]
    ) -> ToolOAuthCredentials:
        refresh_token = str(credentials.get("refresh_token") or "")
        if not refresh_token:
            raise ToolProviderOAuthError("no refresh_token in the credentials")
        return ToolOAuthCredentials(
            credentials={"access_token": "at-refreshed-" + refresh_token, "refresh_token": refresh_token},
            expires_at=int(time.time()) + 7200,
        )
