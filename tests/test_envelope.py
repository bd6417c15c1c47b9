"""Decoding the daemon's response envelope and error shapes into typed errors."""

import json

import pytest

import dify_plugin_client as dpc

ROUTE = "GET /plugin/t/management/list"


def _response(status, body, content_type="application/json; charset=utf-8"):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return dpc.Response(status, {"content-type": content_type}, body, "GET", "http://d/x")


def _error_envelope(code, error_type, message):
    inner = json.dumps({"message": message, "error_type": error_type, "args": None})
    return {"code": code, "message": inner, "data": None}


def test_success_returns_data():
    assert dpc._decode_envelope(_response(200, {"code": 0, "message": "success",
                                                "data": [1]}), ROUTE) == [1]


@pytest.mark.parametrize("error_type,code,cls", [
    ("PluginDaemonBadRequestError", -400, dpc.PluginDaemonBadRequestError),
    ("PluginDaemonNotFoundError", -404, dpc.PluginDaemonNotFoundError),
    ("PluginDaemonInternalServerError", -500, dpc.PluginDaemonInternalServerError),
    ("PluginUniqueIdentifierError", -400, dpc.PluginUniqueIdentifierError),
    ("PluginNotFoundError", -404, dpc.PluginNotFoundError),
    ("PluginPermissionDeniedError", -403, dpc.PluginPermissionDeniedError),
    ("PluginDaemonUnauthorizedError", -401, dpc.PluginDaemonUnauthorizedError),
    ("PluginDaemonInnerError", -500, dpc.PluginDaemonInnerError),
    ("PluginInvokeError", -500, dpc.PluginInvokeError),
])
def test_each_daemon_error_type_on_http_200(error_type, code, cls):
    with pytest.raises(cls) as info:
        dpc._decode_envelope(_response(200, _error_envelope(code, error_type, "boom")), ROUTE)
    error = info.value
    assert type(error) is cls and isinstance(error, dpc.PluginDaemonError)
    assert (error.code, error.error_type, error.http_status, error.route) == (
        code, error_type, 200, ROUTE)
    assert error.message == "boom" and "boom" in str(error) and ROUTE in str(error)


def test_unknown_error_type_keeps_its_name_and_falls_back_by_code():
    with pytest.raises(dpc.PluginDaemonError) as info:
        dpc._decode_envelope(_response(200, _error_envelope(-500, "ConnectionClosedError",
                                                            "gone")), ROUTE)
    # the class follows the code (-500), the name is kept as sent
    assert type(info.value) is dpc.PluginDaemonInternalServerError
    assert info.value.error_type == "ConnectionClosedError"
    with pytest.raises(dpc.PluginDaemonError) as info:
        dpc._decode_envelope(_response(200, _error_envelope(-418, "Teapot", "tea")), ROUTE)
    assert type(info.value) is dpc.PluginDaemonError and info.value.code == -418
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        dpc._decode_envelope(_response(200, {"code": -400, "message": "plain text",
                                             "data": None}), ROUTE)
    assert info.value.message == "plain text" and info.value.error_type is None


def test_unauthorized_401_exact_body():
    body = (b'{"code":-401,"message":"{\\"message\\":\\"unauthorized\\",\\"error_type\\":'
            b'\\"PluginDaemonUnauthorizedError\\",\\"args\\":null}","data":null}')
    with pytest.raises(dpc.PluginDaemonUnauthorizedError) as info:
        dpc._decode_envelope(_response(401, body), ROUTE)
    assert info.value.http_status == 401 and info.value.message == "unauthorized"


def test_validation_400_keeps_the_daemon_message():
    message = "Key: 'Page' Error:Field validation for 'Page' failed on the 'required' tag"
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        dpc._decode_envelope(_response(400, _error_envelope(
            -400, "PluginDaemonBadRequestError", message)), ROUTE)
    assert info.value.message == message and info.value.http_status == 400


def test_route_not_found_with_string_code():
    with pytest.raises(dpc.HTTPStatusError) as info:
        dpc._decode_envelope(_response(404, {"code": "not_found",
                                             "message": "route not found"}), ROUTE)
    error = info.value
    assert error.status_code == 404 and error.code == "not_found"
    assert "route not found" in str(error) and error.hint


@pytest.mark.parametrize("status,body,content_type,needle", [
    (502, b"<html><body>Bad Gateway</body></html>", "text/html", "Bad Gateway"),
    (413, b"<html>Request Entity Too Large</html>", "text/html", "client_max_body_size"),
    (500, b"", "text/plain", "empty body"),
    (503, b"\xff\xfe not utf-8", "text/plain", "HTTP 503"),
])
def test_non_daemon_error_bodies(status, body, content_type, needle):
    with pytest.raises(dpc.HTTPStatusError) as info:
        dpc._decode_envelope(_response(status, body, content_type), ROUTE)
    assert info.value.status_code == status and needle in str(info.value)
    assert info.value.response.content == body


@pytest.mark.parametrize("body", [b"", b"<html>ok</html>", b'{"code":0,', b"[1,2]",
                                  b'{"status":"ok"}', b"\xff\xfe"])
def test_2xx_without_an_envelope_is_invalid_response(body):
    with pytest.raises(dpc.InvalidResponseError):
        dpc._decode_envelope(_response(200, body), ROUTE)


def _invoke_error(inner):
    """Three layers: envelope -> PluginInvokeError JSON -> the plugin's own JSON."""
    middle = json.dumps({"message": json.dumps(inner, sort_keys=True),
                         "error_type": "PluginInvokeError", "args": None})
    return {"code": -500, "message": middle, "data": None}


def test_plugin_invoke_error_is_unwrapped_to_the_plugin_error_type():
    inner = {"args": {"description": "slow down"}, "error_type": "InvokeRateLimitError",
             "message": "rate limited"}
    with pytest.raises(dpc.InvokeRateLimitError) as info:
        dpc._decode_envelope(_response(200, _invoke_error(inner)), ROUTE)
    error = info.value
    assert isinstance(error, dpc.PluginInvokeError)
    assert error.error_type == "PluginInvokeError"
    assert error.invoke_error_type == "InvokeRateLimitError"
    assert error.message == error.invoke_message == "rate limited"
    assert error.invoke_args == {"description": "slow down"}
    assert json.loads(error.description)["error_type"] == "InvokeRateLimitError"
    assert str(error).startswith("rate limited [InvokeRateLimitError, PluginInvokeError")


@pytest.mark.parametrize("name", [
    "InvokeRateLimitError", "InvokeAuthorizationError", "InvokeBadRequestError",
    "InvokeConnectionError", "InvokeServerUnavailableError", "CredentialsValidateFailedError",
    "EndpointSetupFailedError", "TriggerProviderCredentialValidationError",
    "TriggerPluginInvokeError", "TriggerInvokeError", "EventIgnoreError",
    "PluginLLMPollingUnsupportedError", "PluginRuntimeError"])
def test_every_plugin_error_type_dify_maps_has_its_class(name):
    inner = {"args": {"request_id": "req-7"}, "error_type": name, "message": "m"}
    with pytest.raises(dpc.PluginInvokeError) as info:
        dpc._decode_envelope(_response(200, _invoke_error(inner)), ROUTE)
    assert type(info.value) is getattr(dpc, name) and type(info.value).__name__ == name
    assert name in dpc.__all__


def test_plugin_runtime_error_carries_the_request_id():
    inner = {"args": {"request_id": "lambda-42"}, "error_type": "PluginRuntimeError",
             "message": "runtime died"}
    with pytest.raises(dpc.PluginRuntimeError) as info:
        dpc._decode_envelope(_response(200, _invoke_error(inner)), ROUTE)
    assert info.value.request_id == "lambda-42"
    inner["args"] = {}
    with pytest.raises(dpc.PluginRuntimeError) as info:
        dpc._decode_envelope(_response(200, _invoke_error(inner)), ROUTE)
    assert info.value.request_id is None


def test_plugin_invoke_error_of_unknown_type_and_plain_text():
    inner = {"args": {}, "error_type": "ValueError", "message": "boom"}
    with pytest.raises(dpc.PluginInvokeError) as info:
        dpc._decode_envelope(_response(200, _invoke_error(inner)), ROUTE)
    assert type(info.value) is dpc.PluginInvokeError
    assert info.value.invoke_error_type == "ValueError" and info.value.message == "boom"
    plain = {"code": -500, "message": json.dumps({"message": "file is too large",
                                                  "error_type": "PluginInvokeError",
                                                  "args": None}), "data": None}
    with pytest.raises(dpc.PluginInvokeError) as info:
        dpc._decode_envelope(_response(200, plain), ROUTE)
    assert info.value.message == "file is too large" and info.value.invoke_error_type is None


def test_hints_for_known_messages():
    cases = {"plugin verification has been enabled, and the plugin you want to install has "
             "a bad signature": "FORCE_VERIFYING_SIGNATURE",
             "file size exceeds the maximum limit": "MAX_PLUGIN_PACKAGE_SIZE",
             "no available node, plugin not found": "runtime"}
    for message, needle in cases.items():
        with pytest.raises(dpc.PluginDaemonError) as info:
            dpc._decode_envelope(_response(200, _error_envelope(
                -400, "PluginDaemonBadRequestError", message)), ROUTE)
        assert needle in info.value.hint
    # "record not found" says nothing of where it comes from (an unknown task, an unknown
    # endpoint...): no generic hint; the install waiter adds one where it applies
    with pytest.raises(dpc.PluginDaemonError) as info:
        dpc._decode_envelope(_response(200, _error_envelope(
            -500, "PluginDaemonInternalServerError", "record not found")), ROUTE)
    assert info.value.hint is None


def test_hints_for_a_wrong_key_and_for_v2_without_a_runtime():
    """The recorded answer to a wrong key (0.6.10-routes/model/, HTTP 401 with an
    envelope) gets a hint about the key; /v2 of a package no node runs, one that says to
    install it (reinstalling makes no sense for a package never installed)."""
    with pytest.raises(dpc.PluginDaemonUnauthorizedError) as info:
        dpc._decode_envelope(_response(401, _error_envelope(
            -401, "PluginDaemonUnauthorizedError", "unauthorized")), ROUTE)
    assert "daemon key" in info.value.hint
    runtime = "no available node, plugin runtime not found"
    v2 = "POST /v2/invoke/dispatch/tool/invoke"
    with pytest.raises(dpc.PluginDaemonError) as info:
        dpc._decode_envelope(_response(404, _error_envelope(
            -500, "PluginDaemonInternalServerError", runtime)), v2)
    assert "install it first" in info.value.hint and "reinstall" not in info.value.hint
    with pytest.raises(dpc.PluginDaemonError) as info:
        dpc._decode_envelope(_response(404, _error_envelope(
            -500, "PluginDaemonInternalServerError", runtime)), ROUTE)
    assert "reinstall" in info.value.hint
    with pytest.raises(dpc.PluginInvokeError) as info:  # a plugin's own "unauthorized"
        dpc._decode_envelope(_response(200, _invoke_error(
            {"args": {}, "error_type": "InvokeAuthorizationError",
             "message": "unauthorized"})), ROUTE)
    assert info.value.hint is None


def test_errors_pickle_and_keep_attributes():
    import pickle

    error = dpc.PluginNotFoundError("plugin not found", code=-404, http_status=404,
                                    error_type="PluginNotFoundError", route=ROUTE)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is dpc.PluginNotFoundError and copy.code == -404 and str(copy) == str(error)
