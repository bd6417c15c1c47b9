"""Event ping: variables {body, kind, method, subscription_endpoint}.

Parameter only_kind, when set and different from payload.kind, cancels the
event (EventIgnoreError). payload.kind "explode" raises ValueError. Dynamic
select for "level": low, high.
"""

from collections.abc import Mapping
from typing import Any

from dify_plugin.entities import I18nObject, ParameterOption
from dify_plugin.entities.trigger import Variables
from dify_plugin.errors.trigger import EventIgnoreError
from dify_plugin.interfaces.trigger import Event
from werkzeug import Request


class PingEvent(Event):
    def _on_event(self, request: Request, parameters: Mapping[str, Any], payload: Mapping[str, Any]) -> Variables:
        kind = str(payload.get("kind", ""))
        if kind == "explode":
            raise ValueError("ping event exploded on purpose")
        only_kind = parameters.get("only_kind")
        if only_kind and only_kind != kind:
            raise EventIgnoreError("kind %r filtered out" % kind)
        return Variables(
            variables={
                "body": dict(payload),
                "kind": kind,
                "method": request.method,
                "subscription_endpoint": self.runtime.subscription.endpoint,
            }
        )

    def _fetch_parameter_options(self, parameter: str) -> list[ParameterOption]:
        if parameter != "level":
            raise ValueError("no dynamic options for parameter '%s'" % parameter)
        return [
            ParameterOption(value="low", label=I18nObject(en_US="Low")),
            ParameterOption(value="high", label=I18nObject(en_US="High")),
        ]
