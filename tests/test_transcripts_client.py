"""The client against the real daemon's recorded answers (tests/transcripts/0.6.10, 0.5.4).

Every recorded exchange is replayed by a loopback server (tests/transcript_replay.py) and
mapped to exactly one check, each its own test id:

- API exchanges (``sNN_*``, ``xNN_*``): the public method for the route is called with
  the recorded arguments; the request it sends must be the recorded one, and the recorded
  answer must be handled as the daemon meant it (entity values, typed errors, streams).
- CLI exchanges (``cliNN_*``): the scenario's ``dify-plugin-client`` command(s) run once
  in process against the scenario's queue; each exchange's test checks that its request
  was sent, in order, as recorded. ``test_cli_scenario`` checks exit codes and output.
- Raw exchanges (sent by urllib or curl, not by the client): replayed with http.client to
  check the server side; where the client refuses such a request, that it refuses before
  sending anything.

Where the daemon showed that the client's current handling is wrong (issue 12), the
tests assert the correct behaviour; see CORRECTED below.

``test_every_recorded_exchange_is_mapped`` fails for any file or exchange of the
client-call folders that no mapping claims. The route-group folder (0.6.10-routes/) is
not part of this suite yet: add its groups to ROUTE_GROUPS as their mappings land.
"""

import base64
import collections
import hashlib
import http.client
import io
import json
import os
import re
import uuid

import pytest

import dify_plugin_client as dpc
import transcript_replay as tr
from helpers import make_client

#: The folders of tests/transcripts/ this suite covers (one per daemon release).
CLIENT_FOLDERS = ("0.6.10", "0.5.4")

#: Route groups of tests/transcripts/0.6.10-routes/ covered so far (none yet). A group
#: added here must have every file claimed in ROUTE_GROUP_CLAIMS (group -> file names).
ROUTE_GROUPS = ()
ROUTE_GROUP_CLAIMS = {}

KEY = "replay-test-key-0123"

#: Issue 12: behaviour the real daemon showed the client gets wrong. Tests for these
#: assert the correct behaviour (they fail until the module is fixed).
CORRECTED = {
    "readme_unknown": "fetch_plugin_readme raises for a package that was never uploaded; "
                      "the CLI's readme exits 1",
    "all_installed_now": "the CLI never says 'already installed' for a plugin this call "
                         "installed (all_installed: installed synchronously)",
    "other_version": "installing over another installed version is not reported as "
                     "installed: the error names the installed version and says upgrade",
    "unknown_ids_cli": "CLI uninstall/tasks delete of an unknown id exits 1 with 'no such "
                       "installation/task for this tenant'",
    "unknown_provider": "tools NAME / invoke with an unknown provider name the provider id "
                        "they looked up",
    "failed_once": "a failed install's message is shown once by the CLI",
}


# =============================================================================
# Fixtures
# =============================================================================


@pytest.fixture(scope="module")
def server():
    replay = tr.ReplayServer()
    replay.key = KEY  # what make_client gives its clients
    try:
        yield replay
    finally:
        replay.close()


@pytest.fixture(autouse=True)
def _own_keys_only():
    """Redact only this module's keys: the module redacts every key any client in the
    process was given (a set that only grows), so a key such as "nope" used by another
    test would hide that word from the daemon's messages checked here."""
    keys = getattr(dpc, "_KEYS_IN_USE", None)
    if not isinstance(keys, set):
        yield
        return
    saved = set(keys)
    keys.clear()
    try:
        yield
    finally:
        keys.clear()
        keys.update(saved)


def other_key(length):
    """A key of ``length`` characters that is not KEY (the recording's wrong key)."""
    return ("wrongkey" * (length // 8 + 1))[:length]


def key_for(exchange):
    recorded = exchange.header("X-Api-Key") or ""
    match = re.search(r"other key, (\d+) chars", recorded)
    return other_key(int(match.group(1))) if match else KEY


# =============================================================================
# Expected handling of a recorded answer
# =============================================================================


def error_class(error_type, code):
    """The module's class for a daemon error_type: the public class of the same name."""
    cls = getattr(dpc, error_type or "", None)
    if isinstance(cls, type) and issubclass(cls, dpc.PluginDaemonError):
        return cls
    return {-400: dpc.PluginDaemonBadRequestError, -401: dpc.PluginDaemonUnauthorizedError,
            -403: dpc.PluginPermissionDeniedError, -404: dpc.PluginDaemonNotFoundError,
            -500: dpc.PluginDaemonInternalServerError}.get(code, dpc.PluginDaemonError)


class ExpectedError:
    def __init__(self, code, message, status):
        self.code, self.status = code, status
        layers = tr.error_layers(message)
        self.error_type, self.message = layers[0] if layers else (None, message)
        self.cls = error_class(self.error_type, code)
        self.invoke_type = self.invoke_message = None
        if self.cls is dpc.PluginInvokeError and len(layers) > 1:
            self.invoke_type, self.invoke_message = layers[-1]
            inner = getattr(dpc, self.invoke_type or "", None)
            if isinstance(inner, type) and issubclass(inner, dpc.PluginInvokeError):
                self.cls = inner

    def check(self, exc, where):
        assert isinstance(exc, self.cls), "%s: raised %r, the recorded error_type %s means %s" % (
            where, exc, self.error_type, self.cls.__name__)
        assert exc.code == self.code, where
        assert exc.http_status == self.status, where
        assert exc.error_type == self.error_type, where
        if self.invoke_message is not None:
            assert exc.invoke_message == self.invoke_message, where
            assert exc.invoke_error_type == self.invoke_type, where
        else:  # the client may add what it looked up; the daemon's words must be there
            assert self.message in exc.message, (where, exc.message)


def expected_error(exchange):
    """The typed error a recorded envelope means, or None for a success answer."""
    body = exchange.response_json
    if isinstance(body, dict) and isinstance(body.get("code"), int) and body["code"] != 0:
        return ExpectedError(body["code"], body.get("message"), exchange.response["status"])
    return None


def expected_messages(exchange, merge=True):
    """(messages as dicts, ExpectedError or None) of a recorded event stream."""
    messages, error, chunks = [], None, {}
    for event in exchange.response["sse_events"]:
        if event.get("code") != 0:
            error = ExpectedError(event["code"], event.get("message"),
                                  exchange.response["status"])
            break
        data = event["data"]
        if data["type"] == "blob_chunk" and merge:
            piece = data["message"]
            chunks.setdefault(piece["id"], []).append(base64.b64decode(piece.get("blob") or ""))
            if piece.get("end"):
                blob = b"".join(chunks.pop(piece["id"]))
                messages.append({"type": "blob", "meta": data["meta"],
                                 "message": {"blob": base64.b64encode(blob).decode("ascii")}})
            continue
        messages.append(data)
    return messages, error


_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


def _same_time(a, b):
    def norm(text):
        text = text.replace("Z", "+00:00")
        match = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)", text)
        fraction = (match.group(2) or ".0")[1:7].ljust(6, "0")
        return match.group(1), int(fraction), match.group(3)
    return norm(a) == norm(b)


def assert_covers(actual, expected, where="data"):
    """Every value of the recorded JSON ``expected`` is in ``actual`` (entity.to_dict())."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), "%s: %r is not an object" % (where, actual)
        for key, value in expected.items():
            assert key in actual, "%s.%s is missing from the entity" % (where, key)
            assert_covers(actual[key], value, "%s.%s" % (where, key))
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            "%s: %r, recorded %r" % (where, actual, expected))
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_covers(a, e, "%s[%d]" % (where, index))
    elif isinstance(expected, str) and _DATETIME.match(expected) and isinstance(actual, str):
        assert _same_time(actual, expected), "%s: %r, recorded %r" % (where, actual, expected)
    elif expected is None and actual in ([], {}):
        pass  # a null list or object is normalised to an empty one
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert actual == expected and not isinstance(actual, bool), (
            "%s: %r, recorded %r" % (where, actual, expected))
    else:
        assert actual == expected and type(actual) is type(expected), (
            "%s: %r, recorded %r" % (where, actual, expected))


def provider_as_returned(data):
    """A recorded tool provider as the client returns it: named in full, refs resolved."""
    data = json.loads(json.dumps(data))
    full = "%s/%s" % (data["plugin_id"], data["provider"])
    declaration = data.get("declaration")
    if declaration:
        declaration["identity"]["name"] = full
        for tool in declaration.get("tools") or ():
            tool["identity"]["provider"] = full
            if "$ref" in json.dumps(tool.get("output_schema")):
                tool.pop("output_schema")  # resolved by the client; checked elsewhere
    return data


# =============================================================================
# API exchanges: which call each recorded request came from
# =============================================================================

#: Exchanges a client of these releases cannot produce (raw HTTP, or curl for x03 ...):
#: sent with http.client, plus the client's own refusal where it has one.
def is_raw(exchange):
    return not exchange.sent_by_client and exchange.scenario != "x03_task_after_ttl"


#: Per-exchange call options, by (scenario, index) for both releases or
#: (release, scenario, index) for one.
API_OPTIONS = {
    ("s02_upload_pkg", 0): {"upload": "bytes"},
    ("s02_upload_pkg", 1): {"upload": "path"},
    ("s02_upload_pkg", 2): {"upload": "fileobj"},
    ("s12_invoke_echo_types", 1): {"merge": False},
    ("s12_invoke_echo_types", 5): {"early_close": True},
    # the declaration fetched to cast parameters; the cast then fails client-side
    ("s14_invoke_bad_params", 1): {"via_invoke": {"count": "abc"}, "raises": "ToolParameterError"},
    # the declaration fetch of an invoke on a tenant without the plugin
    ("s14_invoke_bad_params", 5): {"via_invoke": {"text": "x"}},
    ("s24_oversize", 0): {"oversize": True},
    # the package has no README: "" however the daemon says so
    ("s09_readme", 3): {"readme_empty": True},
    ("s09_readme", 4): {"readme_empty": True},
}


def api_options(exchange):
    options = dict(API_OPTIONS.get((exchange.scenario, exchange.index), {}))
    options.update(API_OPTIONS.get(exchange.key, {}))
    return options


def _one(query, name, default=None):
    values = query.get(name)
    return values[0] if values else default


def api_call(exchange, client, tenant, tmp_path):
    """A no-argument callable doing the client call that produced ``exchange``."""
    method, route, query, body = (exchange.method, exchange.route, exchange.query,
                                  exchange.body_json)
    options = api_options(exchange)
    path_ids = tr.UUID_RE.findall(exchange.path.split("/management/", 1)[-1])
    m = "/management/"
    if route == "/health/check":
        return client.health
    if method == "POST" and route in (m + "install/upload/package", m + "install/upload/bundle"):
        field, filename, payload, _exact = tr.upload_payload(exchange)
        verify = tr.verify_signature_value(exchange) == "true"
        upload = client.upload_pkg if route.endswith("package") else client.upload_bundle
        mode = options.get("upload") or ("path" if filename != field else "bytes")
        if mode == "path":
            source = tmp_path / filename
            source.write_bytes(payload)
            source = str(source)
        elif mode == "fileobj":
            source = io.BytesIO(payload)
        else:
            source = payload
        return lambda: upload(tenant, source, verify_signature=verify)
    if (method, route) == ("POST", m + "install/identifiers"):
        return lambda: client.install_from_identifiers(
            tenant, body["plugin_unique_identifiers"], body["source"], body["metas"])
    if (method, route) == ("GET", m + "install/tasks/{uuid}"):
        return lambda: client.fetch_plugin_installation_task(tenant, path_ids[0])
    if (method, route) == ("GET", m + "install/tasks"):
        return lambda: client.fetch_plugin_installation_tasks(
            tenant, int(_one(query, "page")), int(_one(query, "page_size")))
    if (method, route) == ("POST", m + "install/tasks/{uuid}/delete"):
        return lambda: client.delete_plugin_installation_task(tenant, path_ids[0])
    if (method, route) == ("POST", m + "install/tasks/{uuid}/delete/{identifier}"):
        identifier = exchange.path.split("/delete/", 1)[1]
        return lambda: client.delete_plugin_installation_task_item(tenant, path_ids[0],
                                                                   identifier)
    if (method, route) == ("POST", m + "install/tasks/delete_all"):
        return lambda: client.delete_all_plugin_installation_task_items(tenant)
    if (method, route) == ("POST", m + "installation/missing"):
        return lambda: client.fetch_missing_dependencies(tenant, body["plugin_unique_identifiers"])
    if (method, route) == ("POST", m + "uninstall"):
        return lambda: client.uninstall(tenant, body["plugin_installation_id"])
    if (method, route) == ("POST", m + "install/upgrade"):
        return lambda: client.upgrade_plugin(
            tenant, body["original_plugin_unique_identifier"],
            body["new_plugin_unique_identifier"], body["source"], body["meta"])
    if (method, route) == ("POST", m + "installation/fetch/batch"):
        return lambda: client.fetch_plugin_installation_by_ids(tenant, body["plugin_ids"])
    if (method, route) == ("GET", m + "list"):
        return lambda: client.list_plugins_with_total(tenant, int(_one(query, "page")),
                                                      int(_one(query, "page_size")))
    if (method, route) == ("GET", m + "fetch/manifest"):
        return lambda: client.fetch_plugin_manifest(tenant, _one(query,
                                                                 "plugin_unique_identifier"))
    if (method, route) == ("GET", m + "decode/from_identifier"):
        identifier = _one(query, "plugin_unique_identifier") or _one(query,
                                                                     "PluginUniqueIdentifier")
        return lambda: client.decode_plugin_from_identifier(tenant, identifier)
    if (method, route) == ("GET", m + "fetch/readme"):
        return lambda: client.fetch_plugin_readme(tenant, _one(query, "plugin_unique_identifier"),
                                                  language=_one(query, "language", ""))
    if (method, route) == ("GET", m + "fetch/identifier"):
        return lambda: client.fetch_plugin_by_identifier(tenant,
                                                         _one(query, "plugin_unique_identifier"))
    if (method, route) == ("GET", m + "tools"):
        assert query == {"page": ["1"], "page_size": ["256"]}, exchange.id
        return lambda: client.fetch_tool_providers(tenant)
    if (method, route) == ("GET", m + "tool"):
        plugin_id, provider = _one(query, "plugin_id"), _one(query, "provider")
        if "via_invoke" in options:
            parameters = options["via_invoke"]
            return lambda: client.invoke(tenant, "u1", "%s/%s" % (plugin_id, provider),
                                         "echo_types", {}, dict(parameters))
        if plugin_id == "langgenius/" + provider:
            name = provider  # the bare form: langgenius/<name>/<name>
        else:
            name = "%s/%s" % (plugin_id, provider)
        return lambda: client.fetch_tool_provider(tenant, name)
    if (method, route) == ("POST", m + "tools/check_existence"):
        return lambda: client.check_tools_existence(tenant, body["provider_ids"])
    if (method, route) == ("POST", "/dispatch/tool/invoke"):
        data = body["data"]
        provider = "%s/%s" % (exchange.header("X-Plugin-ID"), data["provider"])
        kwargs = dict(conversation_id=body.get("conversation_id"), app_id=body.get("app_id"),
                      message_id=body.get("message_id"),
                      credential_type=data.get("credential_type"), cast_parameters=False)
        if not options.get("merge", True):
            kwargs["merge_blob_chunks"] = False  # merging is the default
        return lambda: client.invoke(tenant, body["user_id"], provider, data["tool"],
                                     data["credentials"], data["tool_parameters"], **kwargs)
    raise AssertionError("%s: no client call is mapped to %s %s" % (exchange.id, method, route))


def check_success(exchange, result, tenants):
    """The success answer validated into the right entity, with the recorded values."""
    route = exchange.route
    data = tenants.apply_json(exchange.response_json.get("data")) if route != "/health/check" \
        else tenants.apply_json(exchange.response_json)
    where = exchange.id
    if route == "/health/check":
        assert isinstance(result, dpc.DaemonHealth), where
        assert_covers(result.to_dict(), data, where)
    elif route.endswith("/upload/package") or route.endswith("/decode/from_identifier"):
        assert isinstance(result, dpc.PluginDecodeResponse), where
        assert result.unique_identifier == data["unique_identifier"], where
        assert result.manifest.version == data["manifest"]["version"], where
        assert_covers(result.to_dict(), data, where)
    elif route.endswith("/upload/bundle"):
        assert all(isinstance(item, dpc.PluginBundleDependency) for item in result), where
        assert [item.type for item in result] == [item["type"] for item in data], where
        assert_covers([item.to_dict() for item in result], data, where)
    elif route.endswith("/install/identifiers") or route.endswith("/install/upgrade"):
        assert isinstance(result, dpc.PluginInstallTaskStartResponse), where
        assert (result.all_installed, result.task_id) == (data["all_installed"],
                                                          data["task_id"]), where
    elif route.endswith("/install/tasks/{uuid}"):
        assert isinstance(result, dpc.PluginInstallTask), where
        assert (result.id, str(result.status)) == (data["id"], data["status"]), where
        assert [(p.plugin_unique_identifier, str(p.status), p.message) for p in result.plugins] \
            == [(p["plugin_unique_identifier"], p["status"], p["message"])
                for p in data["plugins"]], where
        assert_covers(result.to_dict(), data, where)
    elif route.endswith("/install/tasks"):
        assert [(t.id, str(t.status)) for t in result] == [(t["id"], t["status"])
                                                          for t in data], where
        assert_covers([t.to_dict() for t in result], data, where)
    elif route.endswith("/delete") or route.endswith("/delete/{identifier}") or \
            route.endswith("/delete_all") or route.endswith("/uninstall"):
        assert result is True and data is True, where
    elif route.endswith("/installation/missing"):
        assert [(d.plugin_unique_identifier, d.current_identifier) for d in result] == [
            (d["plugin_unique_identifier"], d.get("current_identifier")) for d in data], where
        assert_covers([d.to_dict() for d in result], data, where)
    elif route.endswith("/installation/fetch/batch"):
        assert all(isinstance(i, dpc.PluginInstallation) for i in result), where
        assert [(i.id, i.plugin_unique_identifier) for i in result] == [
            (i["id"], i["plugin_unique_identifier"]) for i in data], where
        assert_covers([i.to_dict() for i in result], data, where)
    elif route.endswith("/list"):
        assert isinstance(result, dpc.PluginListResponse), where
        assert result.total == data["total"], where
        assert [(p.id, p.plugin_unique_identifier, p.installation_id) for p in result.list] == [
            (p["id"], p["plugin_unique_identifier"], p["installation_id"])
            for p in data["list"]], where
        assert_covers(result.to_dict(), data, where)
    elif route.endswith("/fetch/manifest"):
        assert isinstance(result, dpc.PluginDeclaration), where
        assert (result.author, result.name, result.version) == (data["author"], data["name"],
                                                                data["version"]), where
        assert_covers(result.to_dict(), data, where)
    elif route.endswith("/fetch/readme"):
        assert result == data["content"] and isinstance(result, str), where
    elif route.endswith("/fetch/identifier"):
        assert result is data and isinstance(result, bool), where
    elif route.endswith("/tools"):
        assert [p.full_name for p in result] == ["%s/%s" % (p["plugin_id"], p["provider"])
                                                 for p in data], where
        assert_covers([p.to_dict() for p in result], [provider_as_returned(p) for p in data],
                      where)
    elif route.endswith("/tool"):
        assert isinstance(result, dpc.PluginToolProviderEntity), where
        assert result.full_name == "%s/%s" % (data["plugin_id"], data["provider"]), where
        assert_covers(result.to_dict(), provider_as_returned(data), where)
    elif route.endswith("/tools/check_existence"):
        assert result == data, where
    else:
        raise AssertionError("%s: no success check for %s" % (where, route))


def run_api_exchange(exchange, server, tmp_path):
    """Replay one API exchange through its client call and check both directions."""
    tenants = tr.TenantMap(exchange.release)
    tenant = tenants[exchange.tenant] if exchange.tenant else None
    options = api_options(exchange)
    key = key_for(exchange)
    config = {}
    if options.get("oversize"):
        # the client refuses a package over max_package_size before sending a byte
        with make_client(server.expect([], tenants), key=key) as client:
            with pytest.raises(dpc.PackageTooLargeError):
                api_call(exchange, client, tenant, tmp_path)()
        assert server.log == [], "the refused upload reached the server"
        config["max_package_size"] = 64 * 1024 * 1024  # ... and the daemon refuses it too
    server.expect([exchange], tenants)
    with make_client(server, key=key, **config) as client:
        call = api_call(exchange, client, tenant, tmp_path)
        outcome, raised = None, None
        try:
            outcome = call()
            if exchange.route == "/dispatch/tool/invoke":
                outcome = consume_stream(exchange, outcome, options)
        except dpc.DifyPluginError as exc:
            raised = exc
    assert not server.unexpected, "unexpected request(s): %s" % server.unexpected
    assert len(server.recorded) == 1, "%s was not requested" % exchange.id
    problems = tr.compare_request(exchange, server.recorded[0].request, tenants, KEY)
    assert not problems, "%s: the client's request differs: %s" % (exchange.id, problems)
    check_outcome(exchange, outcome, raised, tenants, options)


def consume_stream(exchange, stream, options):
    """The messages of an invoke stream; a raised error is attached to what was received."""
    messages = []
    try:
        for message in stream:
            messages.append(message)
            if options.get("early_close"):
                stream.close()
                break
    except dpc.DifyPluginError as exc:
        exc.received_messages = messages
        raise
    return messages


def check_outcome(exchange, outcome, raised, tenants, options):
    where = exchange.id
    if options.get("raises"):
        assert type(raised).__name__ == options["raises"], "%s: raised %r" % (where, raised)
        return
    if options.get("readme_empty"):
        assert raised is None and outcome == "", "%s: %r / %r" % (where, outcome, raised)
        return
    if exchange.is_stream:
        messages, error = expected_messages(exchange, options.get("merge", True))
        received = outcome if raised is None else getattr(raised, "received_messages", [])
        if options.get("early_close"):
            messages = messages[:1]
        assert [m.type for m in received] == [m["type"] for m in messages], where
        for index, (message, recorded) in enumerate(zip(received, messages)):
            assert_covers(message.to_dict(), tenants.apply_json(recorded),
                          "%s message %d" % (where, index))
        if error is None or options.get("early_close"):
            assert raised is None, "%s: %r" % (where, raised)
        else:
            assert raised is not None, "%s: the stream's error was not raised" % where
            error.check(raised, where)
        return
    error = expected_error(exchange)
    if error is not None:
        assert raised is not None, "%s: returned %r for an error answer" % (where, outcome)
        error.check(raised, where)
        return
    body = exchange.response_json
    if isinstance(body, dict) and "code" in body and not isinstance(body["code"], int):
        assert isinstance(raised, dpc.HTTPStatusError), "%s: %r" % (where, raised)
        assert raised.status_code == exchange.response["status"], where
        return
    assert raised is None, "%s: raised %r for a success answer" % (where, raised)
    check_success(exchange, outcome, tenants)


# =============================================================================
# Raw exchanges: the server side, and the client's refusal where it has one
# =============================================================================


def send_raw(server, exchange, tenants):
    """Send the recorded request with http.client; returns (status, reason, body)."""
    body = tr.recorded_body_bytes(exchange)
    if body is None and exchange.body_json is not None:
        body = json.dumps(exchange.body_json).encode("utf-8")
    connection = http.client.HTTPConnection(*server.url[len("http://"):].split(":"),
                                            timeout=10)
    try:
        target = tenants.apply(exchange.request["raw_target"])
        connection.putrequest(exchange.method, target, skip_host=True,
                              skip_accept_encoding=True)
        for name, value in exchange.request["headers"]:
            if name.lower() == "content-length":
                continue
            if name.lower() == "x-api-key":
                value = key_for(exchange) if "other key" in value else KEY
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.reason, response.read()
    finally:
        connection.close()


def client_refusal(exchange, client, tenant):
    """The client call that refuses what this raw exchange sent, or None."""
    route, body = exchange.route, exchange.body_json
    if exchange.tenant == "tenant-1":
        bad = "tenant-1"
        calls = {
            "/management/list": lambda: client.list_plugins_with_total(bad, 1, 10),
            "/management/tools": lambda: client.fetch_tool_providers(bad),
            "/management/install/tasks": lambda: client.fetch_plugin_installation_tasks(bad, 1,
                                                                                        10),
            "/management/install/identifiers": lambda: client.install_from_identifiers(
                bad, body["plugin_unique_identifiers"], "package"),
            "/dispatch/tool/invoke": lambda: client.invoke(
                bad, body["user_id"], "%s/%s" % (exchange.header("X-Plugin-ID") or
                                                 "e2etest/e2e_tools", body["data"]["provider"]),
                body["data"]["tool"], {}, body["data"]["tool_parameters"],
                cast_parameters=False),
        }
        return calls[route]
    if route == "/management/fetch/manifest":  # a malformed identifier
        return lambda: client.fetch_plugin_manifest(tenant, exchange.query[
            "plugin_unique_identifier"][0])
    if route == "/management/install/identifiers" and "metas" not in body:
        # the client always sends one meta per identifier; a wrong count is refused
        return lambda: client.install_from_identifiers(
            tenant, body["plugin_unique_identifiers"], body["source"], metas=[])
    return None


def run_raw_exchange(exchange, server):
    tenants = tr.TenantMap(exchange.release)
    tenant = tenants[exchange.tenant] if exchange.tenant and tr.UUID_RE.fullmatch(
        exchange.tenant) else str(uuid.uuid4())
    # 1. the server side: the recorded request gets the recorded answer
    server.expect([exchange], tenants)
    status, reason, body = send_raw(server, exchange, tenants)
    assert not server.unexpected, server.unexpected
    problems = tr.compare_request(exchange, server.recorded[0].request, tenants, KEY)
    assert not problems, problems
    assert (status, reason) == (exchange.response["status"], exchange.response["reason"])
    assert body == tenants.apply(exchange.response["text"]).encode("utf-8")
    # 2. the client's side
    if exchange.header("X-Api-Key") == "<redacted:other key, 0 chars>":
        with pytest.raises(dpc.InvalidArgumentError):
            dpc.PluginConfig(url=server.url, key="")
        return "refused: empty key"
    if exchange.route == "/management/decode/from_identifier":
        # only the legacy key: this client always sends both keys, so it never gets the
        # 400 of 0.6.10; what it gets back is still handled as the daemon meant it
        server.expect([exchange], tenants)
        with make_client(server) as client:
            try:
                result, raised = client.decode_plugin_from_identifier(
                    tenant, exchange.query["PluginUniqueIdentifier"][0]), None
            except dpc.DifyPluginError as exc:
                result, raised = None, exc
        received = server.recorded[0].request
        assert received.query.get("plugin_unique_identifier") == received.query.get(
            "PluginUniqueIdentifier") == exchange.query["PluginUniqueIdentifier"]
        assert not tr.compare_request(exchange, received, tenants, KEY, query_superset=True)
        check_outcome(exchange, result, raised, tenants, {})
        return "client handled"
    if exchange.route == "/management/nope":
        return "no client call for an unknown route"
    server.expect([], tenants)
    with make_client(server) as client:
        call = client_refusal(exchange, client, tenant)
        assert call is not None, "%s: no refusal mapped" % exchange.id
        with pytest.raises(dpc.InvalidArgumentError):
            result = call()
            if exchange.route == "/dispatch/tool/invoke":
                list(result)
    assert server.log == [], "the client sent %s" % server.log
    return "refused"


# =============================================================================
# CLI scenarios
# =============================================================================


class Step:
    """One CLI command of a scenario: argv (without settings) and its expected exit code."""

    def __init__(self, argv, exit_code, check=None, stdin="", key=None, url_suffix=""):
        self.argv, self.exit_code, self.check = argv, exit_code, check
        self.stdin, self.key, self.url_suffix = stdin, key, url_suffix


class CliScenario:
    """The command(s) behind one cliNN recording.

    For the CORRECTED behaviours: ``pool`` lists recorded answers (same daemon state) for
    requests a corrected CLI may add (e.g. checking an id before deleting it); ``unsent``
    the recorded requests a corrected CLI must not send; ``optional`` those it may drop.
    """

    def __init__(self, steps, pool=(), unsent=(), optional=(), corrected=None):
        self.steps = steps if isinstance(steps, list) else [steps]
        self.pool = pool
        self.unsent = unsent
        self.optional = optional
        self.corrected = corrected


ID_V1 = "e2etest/e2e_tools:0.0.1@d8bf5c3036d5f84496c9f538ab28e144e637ea12a42be32cba27fdc02432226e"
ID_V2 = "e2etest/e2e_tools:0.0.2@20efba11903be4ab2813bd41ef9d55654489440a2c665b9ad17a79dd665f7ee1"
ID_NOREADME = ("e2etest/e2e_tools:0.0.1@"
               "5ce8dc6b76cb2181f910cec92ae00656918d2a4e9f71b8320a72540ed19221ea")
ID_WORDSMITH = ("ceocheck/wordsmith:0.1.0@"
                "be01263e4b20a69f6e9e5edebb7492f02e7c9e5f272d04cd83d2037f67d69741")
ID_UNKNOWN = "nobody/nothing:1.0.0@" + "0" * 64
ID_BROKEN = ("e2etest/e2e_broken:0.0.1@"
             "8f0545a27f93cee87b08d2ab27de19cd539bda5dee7d3a373fa974c71b495cd2")
TASK_70 = "01a2149e-1ee5-7f1d-9929-dbc0fab35bad"
PROVIDER = "e2etest/e2e_tools/e2e_tools"


def _params(scenario, index):
    """The tool parameters a recorded invoke sent (the CLI is given them as --params)."""
    return json.dumps(tr.exchange("0.6.10", scenario, index).body_json["data"]["tool_parameters"])


def _invoke(scenario, index, tool="echo_types", extra=()):
    return ["invoke", "--user", "u", "--provider", PROVIDER, "--tool", tool,
            "--params", _params(scenario, index)] + list(extra)


def has(*needles, where="all"):
    def check(run):
        text = {"out": run.stdout, "err": run.stderr}.get(where, run.stdout + run.stderr)
        for needle in needles:
            assert needle in text, "%r not in the CLI's output:\n%s" % (needle, text)
    return check


def lacks(*needles):
    def check(run):
        for needle in needles:
            assert needle not in run.stdout + run.stderr, "%r in the CLI's output:\n%s%s" % (
                needle, run.stdout, run.stderr)
    return check


def both(*checks):
    def check(run):
        for item in checks:
            item(run)
    return check


def json_out(test):
    def check(run):
        test(json.loads(run.stdout))
    return check


def ndjson_types(expected):
    def check(run):
        types = [json.loads(line)["type"] for line in run.stdout.splitlines() if line.strip()]
        assert types == expected, types
    return check


def count_once(needle):
    def check(run):
        count = (run.stdout + run.stderr).count(needle)
        assert count == 1, "%r shown %d times:\n%s" % (needle, count, run.stderr)
    return check


def _saved_blob(run):
    files = os.listdir(run.output_dir)
    assert len(files) == 1, files
    with open(os.path.join(run.output_dir, files[0]), "rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == \
        "93a6015a3874a774dd59fdd5db19414b301525381eb5ddcc265cdcc68bb9d350"


_BLOB_TYPES = ["text", "json", "variable", "log", "blob"]
# installation lookups the client makes before installing and after a task succeeds,
# answered by recorded lookups of the same daemon state
_NOTHING_INSTALLED = ("cli55_uninstall_unknown", 0)
_V1_INSTALLED = ("cli36_upgrade_file", 1)
_V2_INSTALLED = ("cli38_upgrade_identifier_back", 0)
_FAILED_LINE = "failed to init environment"

CLI_SCENARIOS = {
    "cli02_health": CliScenario(Step(["health"], 0, has("ok", "platform local"))),
    "cli03_health_json": CliScenario(Step(["--json", "health"], 0, json_out(
        lambda data: (data["status"], data["platform"]) == ("ok", "local") or pytest.fail(
            repr(data))))),
    "cli04_list_empty": CliScenario(Step(["list"], 0, has("no plugins installed"))),
    "cli05_upload_pkg": CliScenario(Step(["upload-pkg", "--file", "{file}"], 0, has(ID_V1))),
    "cli06_upload_pkg_json": CliScenario(Step(["--json", "upload-pkg", "--file", "{file}"], 0,
                                              json_out(lambda d: d["unique_identifier"] == ID_V1
                                                       or pytest.fail(repr(d))))),
    "cli07_install_file": CliScenario(Step(["install", "--file", "{file}"], 0,
                                           has(ID_V1, "installed")),
                                      pool=[_NOTHING_INSTALLED, _V1_INSTALLED]),
    # really installed before (by cli07): "already installed" is right here
    "cli08_install_file_again": CliScenario(Step(["install", "--file", "{file}"], 0),
                                            pool=[("cli08_install_file_again", 2)],
                                            optional=[2]),
    "cli09_list": CliScenario(Step(["list"], 0, has("e2etest/e2e_tools", "1 plugin installed"))),
    "cli10_list_json": CliScenario(Step(["--json", "list"], 0, json_out(
        lambda d: [p["plugin_unique_identifier"] for p in d["plugins"]] == [ID_V1]
        or pytest.fail(repr(d))))),
    "cli11_tools": CliScenario(Step(["tools"], 0, has(PROVIDER, "echo_types", "raise_error"))),
    "cli12_tools_provider": CliScenario(Step(["tools", PROVIDER], 0, has("echo_types",
                                                                          "raise_error"))),
    "cli13_tools_tool": CliScenario(Step(["tools", PROVIDER, "echo_types"], 0,
                                         has("count", "keep|upper|lower", "0..100"))),
    "cli14_tools_bare": CliScenario(
        Step(["tools", "e2e_tools"], 1, has("langgenius/e2e_tools/e2e_tools", where="err")),
        corrected="unknown_provider"),
    "cli15_invoke": CliScenario(Step(_invoke("cli15_invoke", 1), 0,
                                     has("hi!", "variable echo_text", "log [", "blob: "))),
    "cli16_invoke_outdir": CliScenario(Step(_invoke("cli16_invoke_outdir", 1,
                                                    extra=["--output-dir", "{outdir}"]),
                                            0, _saved_blob)),
    "cli17_invoke_json": CliScenario(Step(["--json"] + _invoke("cli17_invoke_json", 1), 0,
                                          ndjson_types(_BLOB_TYPES))),
    "cli18_invoke_stdin": CliScenario(Step(
        ["invoke", "--user", "u", "--provider", PROVIDER, "--tool", "echo_types", "--params",
         "-"], 0, has("from stdin"), stdin=_params("cli18_invoke_stdin", 1))),
    "cli19_invoke_raise": CliScenario(Step(_invoke("cli19_invoke_raise", 1, "raise_error"), 1,
                                           has("about to fail", "intentional failure"))),
    "cli20_invoke_raise_json": CliScenario(Step(
        ["--json"] + _invoke("cli20_invoke_raise_json", 1, "raise_error"), 1,
        both(ndjson_types(["text"]), has("intentional failure", where="err")))),
    "cli21_invoke_bad_param": CliScenario(Step(
        ["invoke", "--user", "u", "--provider", PROVIDER, "--tool", "echo_types", "--params",
         '{"text": "x", "count": "abc"}'], 2, has("count"))),
    # an unknown tool exits 1, as an unknown provider does
    "cli22_invoke_unknown_tool": CliScenario(Step(
        ["invoke", "--user", "u", "--provider", PROVIDER, "--tool", "nope"], 1, has("nope"))),
    "cli23_invoke_unknown_tool_nocast": CliScenario(Step(
        ["invoke", "--user", "u", "--provider", PROVIDER, "--tool", "nope", "--no-cast"], 1,
        has("nope"))),
    "cli24_invoke_unknown_provider": CliScenario(
        Step(["invoke", "--user", "u", "--provider", "nobody/nothing/nothing", "--tool", "t"], 1,
             has("nobody/nothing/nothing", where="err")),
        corrected="unknown_provider"),
    "cli26_manifest": CliScenario(Step(["manifest", ID_V1], 0, has("e2etest/e2e_tools",
                                                                   "0.0.1", "echo_types"))),
    "cli27_readme": CliScenario(Step(["readme", ID_V1], 0, has("# E2E Tools", where="out"))),
    "cli28_upload_noreadme": CliScenario(Step(["upload-pkg", "--file", "{file}"], 0,
                                              has(ID_NOREADME))),
    "cli29_readme_none": CliScenario(Step(["readme", ID_NOREADME], 0, has("no README"))),
    "cli30_readme_unknown": CliScenario(Step(["readme", ID_UNKNOWN], 1,
                                             has("plugin package not found")),
                                        corrected="readme_unknown"),
    "cli31_manifest_unknown": CliScenario(Step(["manifest", ID_UNKNOWN], 1,
                                               has("plugin not found"))),
    "cli32_upload_v2": CliScenario(Step(["upload-pkg", "--file", "{file}"], 0, has(ID_V2))),
    # something is missing: exit 1
    "cli33_missing_deps": CliScenario(Step(["missing-deps", ID_V1, ID_V2], 1, has(ID_V2))),
    "cli34_install_v2_while_v1": CliScenario(
        Step(["install", "--identifier", ID_V2], 1, both(has("0.0.1", "upgrade"),
                                                         lacks(ID_V2 + "  installed"))),
        pool=[_V1_INSTALLED, ("cli35_list_after_install_v2", 0)], unsent=[0, 1, 2],
        corrected="other_version"),
    "cli35_list_after_install_v2": CliScenario(Step(["list"], 0, both(has(ID_V1),
                                                                       lacks(ID_V2)))),
    "cli36_upgrade_file": CliScenario(Step(["upgrade", "--file", "{file}"], 0,
                                           has(ID_V2, "upgraded")), pool=[_V2_INSTALLED]),
    "cli37_list_after_upgrade": CliScenario(Step(["list"], 0, has(ID_V2))),
    "cli38_upgrade_identifier_back": CliScenario(Step(["upgrade", "--identifier", ID_V1], 1,
                                                      has("plugin not found"))),
    "cli39_tasks_list": CliScenario(Step(["tasks", "list"], 0, has("01a2149d-a4c8-7cf0-96e5-"
                                                                   "1aadd956730c", "failed"))),
    "cli40_tasks_list_json": CliScenario(Step(["--json", "tasks", "list"], 0, json_out(
        lambda d: len(d) == 4 or pytest.fail(repr(d))))),
    "cli41_upload_bundle": CliScenario(Step(["upload-bundle", "--file", "{file}"], 0,
                                            has("package", "marketplace", "github"))),
    "cli42_upload_bundle_json": CliScenario(Step(["--json", "upload-bundle", "--file", "{file}"],
                                                 0, json_out(lambda d: [x["type"] for x in d] ==
                                                             ["package", "marketplace", "github"]
                                                             or pytest.fail(repr(d))))),
    "cli43_install_identifier_all_installed": CliScenario(
        Step(["install", "--identifier", ID_WORDSMITH], 0,
             both(lacks("already installed"), has(ID_WORDSMITH))),
        pool=[("cli55_uninstall_unknown", 0), ("cli37_list_after_upgrade", 0)],
        optional=[1], corrected="all_installed_now"),
    "cli44_install_no_wait": CliScenario(Step(["install", "--no-wait", "--file", "{file}"], 0,
                                              has("01a2149d-a704-7da8-9457-f16831728a0b",
                                                  where="out")), pool=[_NOTHING_INSTALLED]),
    "cli45_tasks_list2": CliScenario(Step(["tasks", "list"], 0, has("01a2149d-a704-7da8-9457-"
                                                                    "f16831728a0b"))),
    "cli46_tasks_wait_failed": CliScenario(Step(["tasks", "wait",
                                                 "89a39364-d480-4215-ad4f-962b10665420"], 1,
                                                has("record not found"))),
    "cli47_tasks_show": CliScenario(Step(["tasks", "show", "89a39364-d480-4215-ad4f-962b10665420"],
                                         1, has("record not found"))),
    "cli48_install_broken_wait": CliScenario(
        Step(["install", "--file", "{file}"], 1, count_once(_FAILED_LINE)),
        pool=[_NOTHING_INSTALLED], corrected="failed_once"),
    "cli49_tasks_delete_all_failed": CliScenario(Step(["tasks", "delete-all", "--failed"], 0,
                                                      has("deleted 3 failed tasks"))),
    "cli51_tasks_delete_random": CliScenario(
        Step(["tasks", "delete", "dce0a430-a3c2-431c-9cef-ab87f17ec4c6"], 1,
             has("no such task", "for this tenant")),
        pool=[("cli52_tasks_show_random", 0), ("cli70_tasks_on_failed", 7)], unsent=[0],
        corrected="unknown_ids_cli"),
    "cli52_tasks_show_random": CliScenario(Step(
        ["tasks", "show", "e494239b-489f-42bf-a8f7-c73c03e81092"], 1, has("record not found"))),
    "cli53_uninstall_by_plugin_id": CliScenario(Step(["uninstall", "e2etest/e2e_tools"], 0,
                                                     has("uninstalled", ID_V2))),
    "cli54_uninstall_by_identifier": CliScenario(Step(["uninstall", ID_WORDSMITH], 0,
                                                      has("uninstalled", ID_WORDSMITH))),
    "cli55_uninstall_unknown": CliScenario(Step(["uninstall", "nobody/nothing"], 1,
                                                has("nobody/nothing", "not installed"))),
    "cli56_uninstall_random_uuid": CliScenario(
        Step(["uninstall", "25b60c5b-14e9-40c9-882a-2d3cd6d43830"], 1,
             has("no such installation", "for this tenant")),
        pool=[("cli57_list_end", 0)], unsent=[0], corrected="unknown_ids_cli"),
    "cli57_list_end": CliScenario(Step(["list"], 0, has("no plugins installed"))),
    "cli58_wrong_key": CliScenario(Step(["list"], 4, has("unauthorized"), key=other_key(5))),
    "cli59_wrong_key_invoke": CliScenario(Step(
        ["invoke", "--user", "u", "--provider", PROVIDER, "--tool", "echo_types", "--params",
         '{"text": "x"}', "--no-cast"], 4, has("unauthorized"), key=other_key(5))),
    "cli64_wrong_url_path": CliScenario(Step(["list"], 1, has("404", "route not found"),
                                             url_suffix="/nope")),
    "cli66_install_corrupt": CliScenario(Step(["install", "--file", "{file}"], 1,
                                              has("not a valid difypkg file"))),
    # install --no-wait, then the tasks commands on the task once it has failed
    "cli70_tasks_on_failed": CliScenario(
        [Step(["install", "--no-wait", "--file", "{file}"], 0,
              has("01a2149e-1ee5-7f1d-9929-dbc0fab35bad", where="out")),
         Step(["tasks", "show", TASK_70], 0, has("failed", "e2etest/e2e_broken")),
         Step(["tasks", "wait", TASK_70], 1, count_once(_FAILED_LINE)),
         Step(["--json", "tasks", "show", TASK_70], 0,
              json_out(lambda d: d["status"] == "failed" or pytest.fail(repr(d)))),
         Step(["tasks", "delete", TASK_70, "--identifier", ID_BROKEN], 0, has("removed")),
         Step(["tasks", "show", TASK_70], 1, has("record not found")),
         Step(["tasks", "list"], 0)],
        # tasks delete looks the task up first: the failed task as the show before it saw
        pool=[_NOTHING_INSTALLED, ("cli70_tasks_on_failed", 4)], corrected="failed_once"),
}


class CliRun:
    def __init__(self):
        self.steps = []      # [(step, exit code, stdout, stderr)]
        self.log = []        # every request served, in order
        self.stdout = self.stderr = ""
        self.output_dir = None


_CLI_RUNS = {}


def run_cli_scenario(name, server, tmp_dir):
    """Run the scenario's command(s) once (cached) against its recorded exchanges."""
    if name in _CLI_RUNS:
        return _CLI_RUNS[name]
    spec = CLI_SCENARIOS[name]
    exchanges = tr.load_release("0.6.10")[name]
    tenants = tr.TenantMap("0.6.10")
    recorded_tenant = next((item.tenant for item in exchanges if item.tenant),
                           tr.recorded_tenants("0.6.10")[0])
    pool = [tr.exchange("0.6.10", scenario, index) for scenario, index in spec.pool]
    queue = [item for item in exchanges if item.index not in spec.unsent]
    server.expect(queue, tenants, pool, optional=[("0.6.10", name, index)
                                                  for index in spec.optional])
    run = CliRun()
    run.output_dir = os.path.join(tmp_dir, "out")
    os.makedirs(run.output_dir, exist_ok=True)
    config_file = os.path.join(tmp_dir, "config.json")
    with open(config_file, "w") as handle:
        handle.write("{}")
    uploads = iter(item for item in exchanges if item.route.endswith(("/upload/package",
                                                                       "/upload/bundle")))
    for step in spec.steps:
        argv = []
        for arg in step.argv:
            if arg == "{file}":
                upload = next(uploads)
                _field, filename, payload, _exact = tr.upload_payload(upload)
                arg = os.path.join(tmp_dir, filename)
                with open(arg, "wb") as handle:
                    handle.write(payload)
            elif arg == "{outdir}":
                arg = run.output_dir
            argv.append(arg)
        environ = {"DIFY_PLUGIN_DAEMON_URL": server.url + step.url_suffix,
                   "DIFY_PLUGIN_DAEMON_KEY": step.key or KEY,
                   "DIFY_PLUGIN_TENANT_ID": tenants[recorded_tenant],
                   "DIFY_PLUGIN_DAEMON_TIMEOUT": "10", "NO_COLOR": "1", "COLUMNS": "200"}
        stdout, stderr = io.StringIO(), io.StringIO()
        code = dpc.main(["--config", config_file] + argv, environ=environ,
                        stdin=io.StringIO(step.stdin), stdout=stdout, stderr=stderr)
        run.steps.append((step, code, stdout.getvalue(), stderr.getvalue()))
        run.stdout += stdout.getvalue()
        run.stderr += stderr.getvalue()
    run.log = list(server.log)
    run.tenants = tenants
    run.spec = spec
    _CLI_RUNS[name] = run
    return run


# =============================================================================
# The mapping: every exchange of the client-call folders is claimed once
# =============================================================================


def _claims():
    """{exchange key: (kind, exchange)} for everything this module maps."""
    claims = {}
    for release in CLIENT_FOLDERS:
        for scenario, exchanges in tr.load_release(release).items():
            if scenario.startswith("cli"):
                if release != "0.6.10" or scenario not in CLI_SCENARIOS:
                    continue
                kind = "cli"
            elif scenario[:3] in API_SCENARIO_PREFIXES:
                kind = None
            else:
                continue
            for item in exchanges:
                claims[item.key] = (kind or ("raw" if is_raw(item) else "api"), item)
    return claims


#: API scenarios by prefix: sNN_ and xNN_ of the README's table.
API_SCENARIO_PREFIXES = {"s%02d" % number for number in range(1, 25)} | {"x01", "x02", "x03"}

CLAIMS = _claims()


def _ids(kind):
    return [item for key, (k, item) in sorted(CLAIMS.items()) if k == kind]


def _param(item):
    return pytest.param(item, id="%s/%s/%d" % item.key)


@pytest.mark.parametrize("exchange", [_param(item) for item in _ids("api")])
def test_api_exchange(exchange, server, tmp_path):
    _REPLAYED[exchange.release] += 1
    run_api_exchange(exchange, server, tmp_path)


@pytest.mark.parametrize("exchange", [_param(item) for item in _ids("raw")])
def test_raw_exchange(exchange, server):
    _REPLAYED[exchange.release] += 1
    run_raw_exchange(exchange, server)


@pytest.mark.parametrize("exchange", [_param(item) for item in _ids("cli")])
def test_cli_exchange(exchange, server, tmp_path_factory):
    run = run_cli_scenario(exchange.scenario, server, str(tmp_path_factory.mktemp("cli")))
    recorded = [served for served in run.log if served.kind == "recorded"]
    _REPLAYED[exchange.release] += 1
    if exchange.index in run.spec.unsent:
        assert all(served.exchange is not exchange for served in recorded), (
            "%s must not be sent (%s)" % (exchange.id, CORRECTED[run.spec.corrected]))
        return
    served = next((s for s in recorded if s.exchange is exchange), None)
    if served is None and exchange.index in run.spec.optional:
        return  # a corrected CLI may do without it
    assert served is not None, "%s was never requested; the CLI sent %s" % (exchange.id,
                                                                            run.log)
    problems = tr.compare_request(exchange, served.request, run.tenants, key=KEY)
    assert not problems, "%s: the CLI's request differs: %s" % (exchange.id, problems)


@pytest.mark.parametrize("name", sorted(CLI_SCENARIOS))
def test_cli_scenario(name, server, tmp_path_factory):
    run = run_cli_scenario(name, server, str(tmp_path_factory.mktemp("cli")))
    for step, code, stdout, stderr in run.steps:
        assert code == step.exit_code, "%s exited %d, expected %d%s\nstdout:\n%s\nstderr:\n%s" % (
            step.argv[:3], code, step.exit_code,
            " (%s)" % CORRECTED[run.spec.corrected] if run.spec.corrected else "", stdout, stderr)
        if step.check is not None:
            single = CliRun()
            single.stdout, single.stderr, single.output_dir = stdout, stderr, run.output_dir
            step.check(single)
        assert KEY not in stdout + stderr and "wrongkey" not in stdout + stderr
    assert not [s for s in run.log if s.kind == "unexpected"], (
        "unexpected requests: %s" % [s for s in run.log if s.kind == "unexpected"])
    exchanges = tr.load_release("0.6.10")[name]
    sent = [s.exchange.index for s in run.log if s.kind == "recorded"]
    wanted = [item.index for item in exchanges if item.index not in run.spec.unsent and (
        item.index in sent or item.index not in run.spec.optional)]
    assert sent == wanted, "the CLI sent recorded exchanges %s, recorded order %s" % (sent,
                                                                                      wanted)


# =============================================================================
# Sequences: the waiter and the iterators over several recorded answers
# =============================================================================


def _queue(release, scenario, indexes):
    return [tr.exchange(release, scenario, index) for index in indexes]


@pytest.mark.parametrize("release", CLIENT_FOLDERS)
def test_wait_for_installation_task_follows_recorded_progress(release, server):
    exchanges = tr.load_release(release)["s03_install_and_wait"]
    polls = exchanges[1:]
    tenants = tr.TenantMap(release)
    tenant = tenants[exchanges[0].tenant]
    seen = []
    # on success the waiter checks the installation: the tenant's lookup after the install
    server.expect(polls, tenants, _queue(release, "s05_tasks", [7]))
    with make_client(server) as client:
        task = client.wait_for_installation_task(
            tenant, tr.UUID_RE.findall(polls[0].path)[-1], poll_interval=0.001,
            max_poll_interval=0.001, on_progress=seen.append, timeout=10)
    assert str(task.status) == "success"
    assert len(server.recorded) == len(polls) and not server.unexpected
    assert seen and str(seen[-1].status) == "success"


@pytest.mark.parametrize("release", CLIENT_FOLDERS)
def test_iterators_page_through_recorded_pages(release, server):
    tenants = tr.TenantMap(release)
    tasks = _queue(release, "s05_tasks", [2, 3, 4])
    tenant = tenants[tasks[0].tenant]
    server.expect(tasks, tenants)
    with make_client(server) as client:
        found = list(client.iter_installation_tasks(tenant, page_size=1))
    assert [t.id for t in found] == [t.response_json["data"][0]["id"] for t in tasks[:2]]
    assert len(server.recorded) == 3 and not server.unexpected
    pages = _queue(release, "s06_list", [1, 2])
    server.expect(pages, tenants)
    with make_client(server) as client:
        plugins = list(client.iter_plugins(tenant, page_size=1))
    assert [p.id for p in plugins] == [pages[0].response_json["data"]["list"][0]["id"]]
    assert len(server.recorded) == 2 and not server.unexpected


@pytest.mark.parametrize("release", CLIENT_FOLDERS)
def test_wait_on_unknown_task(release, server):
    """s05: a task id the daemon does not know: with identifiers the installation is
    confirmed instead; without, the 'record not found' error is raised."""
    tenants = tr.TenantMap(release)
    gone, batch, gone_again = _queue(release, "s05_tasks", [6, 7, 8])
    tenant = tenants[gone.tenant]
    server.expect([gone, batch], tenants)
    with make_client(server) as client:
        task = client.wait_for_installation_task(
            tenant, tr.UUID_RE.findall(gone.path)[-1], poll_interval=0.001,
            identifiers=[ID_V1])
        assert str(task.status) == "success"
        assert len(server.recorded) == 2 and not server.unexpected
        server.expect([gone_again], tenants)
        with pytest.raises(dpc.PluginDaemonInternalServerError):
            client.wait_for_installation_task(tenant, tr.UUID_RE.findall(gone_again.path)[-1],
                                              poll_interval=0.001)


@pytest.fixture
def other_version_queue():
    polls = _queue("0.6.10", "cli34_install_v2_while_v1", [1, 2])
    pool = _queue("0.6.10", "cli36_upgrade_file", [1]) + _queue(
        "0.6.10", "cli35_list_after_install_v2", [0])
    return polls, pool


def test_waiter_refuses_install_over_other_version(server, other_version_queue):
    """s04 / cli34: installing 0.0.2 while 0.0.1 is installed ends success and changes
    nothing; the waiter must not report it as installed (CORRECTED other_version)."""
    polls, pool = other_version_queue
    tenants = tr.TenantMap("0.6.10")
    tenant = tenants[polls[0].tenant]
    server.expect(polls, tenants, pool)
    with make_client(server) as client:
        with pytest.raises(dpc.DifyPluginError) as caught:
            client.wait_for_installation_task(tenant, tr.UUID_RE.findall(polls[0].path)[-1],
                                              poll_interval=0.001, identifiers=[ID_V2])
    message = str(caught.value)
    assert "0.0.1" in message and "upgrade" in message, message
    assert not server.unexpected


# =============================================================================
# Completeness and the count
# =============================================================================

_REPLAYED = collections.Counter()


def test_every_recorded_exchange_is_mapped():
    """A file or exchange of the client-call folders that no mapping claims fails here."""
    unmapped = []
    for release in CLIENT_FOLDERS:
        folder = os.path.join(tr.TRANSCRIPTS_DIR, release)
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".json"):
                unmapped.append("%s/%s (not a recording)" % (release, name))
                continue
            exchanges = tr.load_release(release)[name[:-5]]
            if not exchanges:
                unmapped.append("%s/%s (no exchanges)" % (release, name))
            for item in exchanges:
                if item.key not in CLAIMS:
                    unmapped.append(item.id)
    for group in ROUTE_GROUPS:
        folder = os.path.join(tr.TRANSCRIPTS_DIR, "0.6.10-routes", group)
        for name in sorted(os.listdir(folder)):
            if name not in ROUTE_GROUP_CLAIMS.get(group, ()):
                unmapped.append("0.6.10-routes/%s/%s" % (group, name))
    assert not unmapped, "recorded exchanges no test maps: %s" % unmapped
    # a new release folder of client recordings must be mapped too
    assert sorted(CLIENT_FOLDERS) == tr.release_dirs(), tr.release_dirs()
    for scenario in CLI_SCENARIOS:
        assert scenario in tr.load_release("0.6.10"), "mapping for a missing file: %s" % scenario


def replay_report():
    """How many recorded exchanges this run replayed per release (conftest prints it
    in the summary; the test above checks that none was left out)."""
    total = {release: sum(len(x) for x in tr.load_release(release).values())
             for release in CLIENT_FOLDERS}
    return "transcripts replayed: %s" % ", ".join(
        "%s %d/%d" % (release, _REPLAYED[release], total[release]) for release in CLIENT_FOLDERS)
