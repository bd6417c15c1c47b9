"""Agent strategy routes: discovery and ``agent_strategy/invoke``.

* ``GET .../management/agent_strategies`` and ``.../agent_strategy?plugin_id&provider``:
  the installation row, the provider declaration (strategies inlined) and ``meta``;
* ``POST .../dispatch/agent_strategy/invoke`` (and its ``/v2`` mirror):
  ``data = {agent_strategy_provider, agent_strategy, agent_strategy_params}``.  The plugin
  side is the handler a test sets (``set_dispatch_handler(plugin, "agent_strategy/invoke",
  fn)``), else an echo of the parameters as one json message; an unknown provider or
  strategy fails as the SDK does (``Agent `x` not found for provider `y```).

Unlike tool/invoke, the daemon merges ``blob_chunk`` pieces for agent strategies: it
buffers them by id and sends one ``blob`` message, with the end chunk's meta, when the
piece marked ``end`` arrives; a piece over 8192 bytes or a blob over 15 MB fails the
stream; malformed pieces are skipped.  This route does the same to whatever the handler
yields.  Recorded ground truth: tests/transcripts/0.6.10-routes/agent/.
"""

import base64
import binascii

from ..dispatch import DispatchRoute, register_dispatch_route
from ..server import _Field
from .providers import member_names, register_listing
from .tools import _chunk_event

MAX_PIECE = 8192
MAX_BLOB = 15 * 1024 * 1024


def merge_blob_chunks(chunks):
    """The daemon's merging of agent blob chunks (see the module docstring)."""
    buffers = {}
    for chunk in chunks:
        message = chunk.get("message") if isinstance(chunk, dict) else None
        if not (isinstance(chunk, dict) and chunk.get("type") == "blob_chunk"):
            yield chunk
            continue
        if not isinstance(message, dict) or not all(k in message for k in ("id", "blob", "end")):
            continue
        try:
            piece = base64.b64decode(message["blob"] or "")
        except (binascii.Error, TypeError, ValueError):
            continue
        if len(piece) > MAX_PIECE:
            raise ValueError("blob chunk is too large: %d bytes" % len(piece))
        buffer = buffers.setdefault(message["id"], bytearray())
        buffer.extend(piece)
        if len(buffer) > MAX_BLOB:
            raise ValueError("blob is too large")
        if message["end"]:
            del buffers[message["id"]]
            yield {"type": "blob", "message": {"blob": base64.b64encode(bytes(buffer)).decode("ascii")},
                   "meta": chunk.get("meta")}


def _invoke(call):
    """The plugin side by default: echo the parameters, or the SDK's not-found error."""
    data = call.data
    provider, strategy = data.get("agent_strategy_provider"), data.get("agent_strategy")
    name, strategies = member_names(call, "agent_strategy")
    if provider != name or strategy not in strategies:
        raise ValueError("Agent `%s` not found for provider `%s`" % (strategy, provider))
    yield {"type": "json", "message": {"json_object": {"params": data.get("agent_strategy_params") or {}}},
           "meta": None}


INVOKE = DispatchRoute("agent_strategy/invoke", "RequestInvokeAgentStrategy", [
    _Field("AgentStrategyProvider", "json", "agent_strategy_provider", "str", "required",
           ns="InvokeAgentStrategySchema.AgentStrategyProvider"),
    _Field("AgentStrategy", "json", "agent_strategy", "str", "required",
           ns="InvokeAgentStrategySchema.AgentStrategy"),
    _Field("AgentStrategyParams", "json", "agent_strategy_params", "map", "omitempty",
           ns="InvokeAgentStrategySchema.AgentStrategyParams"),
], handler=_invoke, encode=_chunk_event, chunk_filter=merge_blob_chunks)


def register(router, daemon):
    register_listing(router, daemon, "agent_strategies", "agent_strategy", "agent_strategy",
                     with_meta=True)
    register_dispatch_route(router, daemon, INVOKE)
