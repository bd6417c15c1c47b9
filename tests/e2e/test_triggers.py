"""Triggers against the real daemon: discovery, credentials, the subscription lifecycle,
webhook dispatch (raw HTTP as hex, both ways), events, and the CLI
(tests/e2e/plugins/echotrigger)."""

import json

import pytest

from e2e_support import GOOD, SUBSCRIPTION, USER, dpc, tenant_with_plugins, webhook

PROVIDER = "e2etest/echotrigger/echotrigger"


@pytest.fixture(scope="module")
def tenant(client, tenants):
    return tenant_with_plugins(client, tenants, "echotrigger")


def test_discovery(client, tenant):
    [provider] = client.fetch_trigger_providers(tenant)
    declaration = provider.declaration
    assert provider.full_name == PROVIDER == declaration.identity.name
    assert declaration.event("ping").identity.provider == PROVIDER
    assert [c.name for c in declaration.subscription_schema] == ["secret"]
    assert declaration.subscription_constructor.parameters[0].type == "dynamic-select"
    assert client.fetch_trigger_provider(tenant, PROVIDER).declaration.events[0].identity.name \
        == "ping"
    with pytest.raises(dpc.PluginNotFoundError):
        client.fetch_trigger_provider(tenant, "e2etest/echotrigger/nope")


def test_credentials(client, tenant):
    assert client.validate_trigger_credentials(tenant, USER, PROVIDER, GOOD) is True
    with pytest.raises(dpc.TriggerProviderCredentialValidationError):
        client.validate_trigger_credentials(tenant, USER, PROVIDER, {"api_key": "no"})


def test_subscription_lifecycle(client, tenant):
    subscription = client.subscribe_trigger(tenant, USER, PROVIDER, SUBSCRIPTION["endpoint"],
                                            {"channel": "c1"}, GOOD)
    assert subscription.endpoint == SUBSCRIPTION["endpoint"]
    assert subscription.properties["external_id"] == "hook-123" and subscription.expires_at > 0
    refreshed = client.refresh_trigger(tenant, USER, PROVIDER, subscription, GOOD)
    assert refreshed.properties["refreshed"] is True
    assert refreshed.expires_at > subscription.expires_at
    result = client.unsubscribe_trigger(tenant, USER, PROVIDER, refreshed, GOOD)
    assert (result.success, result.message) == (True, "deleted")
    other = dict(SUBSCRIPTION, properties={"external_id": "other"})
    refused = client.unsubscribe_trigger(tenant, USER, PROVIDER, other, GOOD)
    assert (refused.success, refused.message) == (False, "unknown external_id")


def test_dispatch_event(client, tenant):
    result = client.dispatch_trigger_event(tenant, USER, PROVIDER, SUBSCRIPTION, webhook(), GOOD)
    assert (result.user_id, result.events) == ("alice", ["ping"])
    assert result.payload == {"kind": "push", "user": "alice"}
    response = result.http_response()
    assert (response.status, response.reason) == (200, "")
    assert response.header("X-Echo-Trigger") == "1"
    assert response.json() == {"ok": True, "received": "push"}
    quiet = client.dispatch_trigger_event(tenant, USER, PROVIDER, SUBSCRIPTION,
                                          webhook(b'{"kind": "none"}').to_bytes())
    assert quiet.events == [] and quiet.user_id == ""
    with pytest.raises(dpc.PluginInvokeError) as info:
        client.dispatch_trigger_event(tenant, USER, PROVIDER, SUBSCRIPTION, webhook(secret="t"))
    assert info.value.invoke_error_type == "TriggerDispatchError"


def test_invoke_event(client, tenant):
    event = client.invoke_trigger_event(tenant, USER, PROVIDER, "ping", SUBSCRIPTION, webhook(),
                                        payload={"kind": "push", "user": "alice"},
                                        credentials=GOOD)
    assert event.cancelled is False
    assert event.variables == {"body": {"kind": "push", "user": "alice"}, "kind": "push",
                               "method": "POST",
                               "subscription_endpoint": SUBSCRIPTION["endpoint"]}
    ignored = client.invoke_trigger_event(tenant, USER, PROVIDER, "ping", SUBSCRIPTION, webhook(),
                                          {"only_kind": "issue"}, {"kind": "push"}, GOOD)
    assert ignored.cancelled is True and ignored.variables == {}
    with pytest.raises(dpc.PluginInvokeError) as info:
        client.invoke_trigger_event(tenant, USER, PROVIDER, "ping", SUBSCRIPTION, webhook(),
                                    payload={"kind": "explode"}, credentials=GOOD)
    assert info.value.invoke_error_type == "ValueError"


def test_cli(cli, tenant, tmp_path):
    saved = tmp_path / "sub.json"
    run = cli("triggers", "subscribe", "--provider", PROVIDER, "--endpoint",
              SUBSCRIPTION["endpoint"], "--params", '{"channel": "c1"}', "--credentials",
              json.dumps(GOOD), "--save", str(saved), tenant=tenant)
    assert run.rc == 0, run
    assert json.loads(run.out)["properties"]["secret"] == "****"
    assert json.loads(saved.read_text())["properties"]["secret"] == "s"
    body = tmp_path / "push.json"
    body.write_bytes(b'{"kind": "push", "user": "bob"}')
    dispatch = cli("triggers", "dispatch", "--provider", PROVIDER, "--subscription",
                   "@" + str(saved), "--path", "/triggers/plugin/abc", "--header",
                   "Content-Type: application/json", "--header", "X-Echo-Secret: s", "--body",
                   "@" + str(body), "--json", tenant=tenant)
    assert dispatch.rc == 0, dispatch
    answer = json.loads(dispatch.out)
    assert answer["events"] == ["ping"] and answer["user_id"] == "bob"
    assert answer["response"]["status"] == 200
    assert json.loads(answer["response"]["body"]) == {"ok": True, "received": "push"}
    event = cli("triggers", "invoke-event", "--provider", PROVIDER, "--event", "ping",
                "--subscription", "@" + str(saved), "--payload", '{"kind": "push"}',
                "--credentials", json.dumps(GOOD), tenant=tenant)
    assert event.rc == 0 and json.loads(event.out)["kind"] == "push"
    gone = cli("triggers", "unsubscribe", "--provider", PROVIDER, "--subscription",
               "@" + str(saved), "--credentials", json.dumps(GOOD), tenant=tenant)
    assert gone.rc == 0 and "unsubscribed" in gone.err
