"""One client shared by 16 threads: 10,000 calls against the fake daemon.

Each thread works for its own tenant, so every answer can be checked to belong to
its request: list pages and install tasks carry the tenant and ids, and invoke
streams echo a per-request token. The fake daemon counts the connections open at
once, which must never exceed the client's max_connections (here equal to pool_size).
"""

import os
import threading
import time
import uuid

import dify_plugin_client as dpc
from faultkit import make_client
from fake_daemon import sample_plugin

THREADS = 16
TOTAL_CALLS = int(os.environ.get("DPC_CONCURRENCY_CALLS", "10000"))
POOL_SIZE = 8

#: Filled in by the test (figures for the README; printed with -s).
FIGURES = {}


def _token_handler(request):
    """Echo the request's token three times, in three messages (a short stream)."""
    token = request["data"]["tool_parameters"]["text"]
    for part in range(3):
        yield {"type": "text", "message": {"text": "%s#%d" % (token, part)}, "meta": None}


def test_one_client_shared_by_16_threads(daemon):
    client = make_client(daemon.url, daemon.key, pool_size=POOL_SIZE, max_connections=POOL_SIZE,
                         timeout=30.0)
    tenants = []
    for index in range(THREADS):  # each tenant: one installation and one install task
        # a version of its own: installing an identifier some tenant already has is done at
        # once, without a task (as the real daemon does: transcripts 0.6.10/x01)
        identifier = client.upload_pkg(str(uuid.uuid4()),
                                       sample_plugin(version="0.0.%d" % (index + 1))).unique_identifier
        tenant = str(uuid.uuid4())
        start = client.install_from_identifiers(tenant, [identifier],
                                                dpc.PluginInstallationSource.Package)
        task = client.wait_for_installation_task(tenant, start.task_id, poll_interval=0.02)
        tenants.append((tenant, task.id))
    daemon.set_tool_handler("acme/echo", "echo", "echo", _token_handler)
    daemon.reset_stats()
    opened_before = client._transport.connections_opened

    per_thread = TOTAL_CALLS // THREADS
    errors = []
    done = [0] * THREADS
    kinds = {"list": 0, "task": 0, "invoke": 0, "batch": 0}
    kinds_lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def work(index):
        tenant, task_id = tenants[index]
        local = dict.fromkeys(kinds, 0)
        barrier.wait()
        try:
            for call in range(per_thread):
                kind = ("invoke", "list", "task", "invoke", "batch")[call % 5]
                if kind == "invoke":
                    token = "%d-%d-%s" % (index, call, uuid.uuid4().hex)
                    texts = [m.message.text for m in client.invoke(
                        tenant, "user-%d" % index, "acme/echo/echo", "echo", {"api_key": "k"},
                        {"text": token})]
                    assert texts == ["%s#%d" % (token, part) for part in range(3)], texts
                elif kind == "list":
                    page = client.list_plugins_with_total(tenant)
                    assert page.total == 1 and len(page.list) == 1
                    assert page.list[0].tenant_id == tenant
                elif kind == "task":
                    task = client.fetch_plugin_installation_task(tenant, task_id)
                    assert task.id == task_id and task.tenant_id == tenant
                    assert task.status == dpc.PluginInstallTaskStatus.Success
                else:
                    rows = client.fetch_plugin_installation_by_ids(tenant, ["acme/echo"])
                    assert [row.tenant_id for row in rows] == [tenant]
                local[kind] += 1
                done[index] += 1
        except BaseException as exc:  # reported below with its thread
            errors.append((index, done[index], repr(exc)))
        with kinds_lock:
            for kind, number in local.items():
                kinds[kind] += number

    threads = [threading.Thread(target=work, args=(index,)) for index in range(THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    client.close()

    FIGURES.update(calls=sum(done), seconds=round(elapsed, 2), kinds=dict(kinds),
                   max_open_connections=daemon.max_open_connections, pool_size=POOL_SIZE,
                   connections_opened=client._transport.connections_opened - opened_before)
    print("\nconcurrency figures: %r" % (FIGURES,))
    assert errors == []
    assert sum(done) == per_thread * THREADS
    assert daemon.errors == []
    assert daemon.max_open_connections <= POOL_SIZE
    assert client._transport.connections_opened - opened_before <= POOL_SIZE
    # every call reached the fake exactly once (no retries); the rest are the tool
    # declaration fetches that invoke caches for declaration_cache_ttl
    calls = [r for r in daemon.requests if not r.path.endswith("/management/tool")]
    assert len(calls) == sum(done)
    FIGURES["declaration_fetches"] = len(daemon.requests) - len(calls)
