"""Trigger provider echotrigger.

EchoTrigger.dispatch_event: the webhook body is JSON; when the subscription
has properties.secret, header X-Echo-Secret must equal it (else
TriggerDispatchError). Answers events ["ping"] (none when body.kind is
"none"), user_id body.user, payload = the body, and an HTTP 200 JSON response
{"ok": true, "received": <kind>} with header X-Echo-Trigger: 1.

EchoSubscriptionConstructor: api_key "good" is valid; OAuth gives
access_token "trig-<code>" (refresh: "trig-refreshed"), never expiring;
subscribe/refresh/unsubscribe work on external_id "hook-123"; dynamic select
for "channel" gives c1 and c2.
"""

import json
import time
from collections.abc import Mapping
from typing import Any

from dify_plugin.entities import I18nObject, ParameterOption
from dify_plugin.entities.oauth import OAuthCredentials, TriggerOAuthCredentials
from dify_plugin.entities.provider_config import CredentialType
from dify_plugin.entities.trigger import EventDispatch, Subscription, UnsubscribeResult
from dify_plugin.errors.trigger import (
    TriggerDispatchError,
    TriggerProviderCredentialValidationError,
    TriggerProviderOAuthError,
)
from dify_plugin.interfaces.trigger import Trigger, TriggerSubscriptionConstructor
from werkzeug import Request, Response

GOOD_KEY = "good"
EXTERNAL_ID = "hook-123"
SUBSCRIPTION_SECRET = "s"
AUTHORIZE_URL = "https://auth.example.invalid/trigger"


class EchoTrigger(Trigger):
    def _dispatch_event(self, subscription: Subscription, request: Request) -> EventDispatch:
        secret = subscription.properties.get("secret")
        if secret and request.headers.get("X-Echo-Secret") != secret:
            raise TriggerDispatchError("bad X-Echo-Secret")
        body = request.get_json(silent=True)
        payload = body if isinstance(body, dict) else {}
        kind = str(payload.get("kind", ""))
        response = Response(
            json.dumps({"ok": True, "received": kind}),
            status=200,
            headers=[("X-Echo-Trigger", "1")],
            content_type="application/json",
        )
        return EventDispatch(
            user_id=str(payload.get("user", "")),
            events=[] if kind == "none" else ["ping"],
            response=response,
            payload=payload,
        )


class EchoSubscriptionConstructor(TriggerSubscriptionConstructor):
    def _validate_api_key(self, credentials: Mapping[str, Any]) -> None:
        if credentials.get("api_key") != GOOD_KEY:
            raise TriggerProviderCredentialValidationError("api_key must be 'good'")

    def _oauth_get_authorization_url(self, redirect_uri: str, system_credentials: Mapping[str, Any]) -> str:
        return "%s?client_id=%s&redirect_uri=%s" % (
            AUTHORIZE_URL,
            system_credentials.get("client_id", ""),
            redirect_uri,
        )

    def _oauth_get_credentials(
        self, redirect_uri: str, system_credentials: Mapping[str, Any], request: Request
    ) -> TriggerOAuthCredentials:
        code = request.args.get("code")
        if not code:
            raise TriggerProviderOAuthError("no ?code= in the callback request")
        return TriggerOAuthCredentials(credentials={"access_token": "trig-" + code}, expires_at=-1)

    def _oauth_refresh_credentials(
        self, redirect_uri: str, system_credentials: Mapping[str, Any], credentials: Mapping[str, Any]
    ) -> OAuthCredentials:
        return OAuthCredentials(credentials={"access_token": "trig-refreshed"}, expires_at=-1)

    def _create_subscription(
        self,
        endpoint: str,
        parameters: Mapping[str, Any],
        credentials: Mapping[str, Any],
        credential_type: CredentialType,
    ) -> Subscription:
        return Subscription(
            expires_at=int(time.time()) + 3600,
            endpoint=endpoint,
            parameters=dict(parameters),
            properties={
                "channel": parameters.get("channel"),
                "external_id": EXTERNAL_ID,
                "secret": SUBSCRIPTION_SECRET,
            },
        )

    def _refresh_subscription(
        self,
        subscription: Subscription,
        credentials: Mapping[str, Any],
        credential_type: CredentialType,
    ) -> Subscription:
        return Subscription(
            expires_at=int(time.time()) + 4200,
            endpoint=subscription.endpoint,
            parameters=subscription.parameters,
            properties={**subscription.properties, "refreshed": True},
        )

    def _delete_subscription(
        self,
        subscription: Subscription,
        credentials: Mapping[str, Any],
        credential_type: CredentialType,
    ) -> UnsubscribeResult:
        if subscription.properties.get("external_id") == EXTERNAL_ID:
            return UnsubscribeResult(success=True, message="deleted")
        return UnsubscribeResult(success=False, message="unknown external_id")

    def _fetch_parameter_options(
        self,
        parameter: str,
        credentials: Mapping[str, Any],
        credential_type: CredentialType,
    ) -> list[ParameterOption]:
        if parameter != "channel":
            raise ValueError("no dynamic options for parameter '%s'" % parameter)
        return [
            ParameterOption(value="c1", label=I18nObject(en_US="Channel 1")),
            ParameterOption(value="c2", label=I18nObject(en_US="Channel 2 (%s)" % credential_type)),
        ]
