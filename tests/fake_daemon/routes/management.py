"""Management routes, ``/plugin/:tenant_id/management/...`` (daemon-api.md §6.1-§6.18).

Uploads (package, bundle), installs and upgrades (background install tasks),
the task list, installations (list, batch fetch, missing, uninstall), manifests,
decoding and readmes.  Errors here are HTTP 200 envelopes, except binding and
validation errors (HTTP 400).

Installs follow the daemon (tests/transcripts/README.md, "Findings"): when the
runtime of every requested identifier already exists (some tenant has it
installed), the tenant gets them at once and the answer is ``all_installed:
true`` with no task; otherwise one task installs them all.  Upgrades do the same
for the new identifier; an upgrade task fails later when the new package was
never uploaded or its declaration is gone.
"""

from ..packages import _as_dict, _Bundle, _bundle_dependency, _decode_upload, _Package, _PkgError
from ..server import _Field
from ..wire import IDENTIFIER_RE, _bad_request, _daemon_not_found, _internal, _now, _require_uuid
from .common import _PAGE_FIELDS, _TENANT, _UID_QUERY, add_routes, page_of

# decode/from_identifier binds a form field from 0.5.5 on; up to 0.5.4 the struct field had
# only a json tag, so gin's form binding reads the Go field name (s22 of both releases).
_DECODE_FIELDS = [_Field("PluginUniqueIdentifier", "form", "plugin_unique_identifier", "str",
                         "required,plugin_unique_identifier")]
_DECODE_FIELDS_054 = [_Field("PluginUniqueIdentifier", "json", "plugin_unique_identifier", "str",
                             "required,plugin_unique_identifier")]
PACKAGE_NOT_FOUND = "plugin package not found, please upload it firstly"
_INSTALL_FIELDS = [
    _TENANT,
    _Field("PluginUniqueIdentifiers", "json", "plugin_unique_identifiers", "strs",
           "required,max=64,dive,plugin_unique_identifier"),
    _Field("Source", "json", "source", "str", "required"),
    _Field("Metas", "json", "metas", "maps", "omitempty"),
]
_UPGRADE_FIELDS = [
    _TENANT,
    _Field("OriginalPluginUniqueIdentifier", "json", "original_plugin_unique_identifier", "str",
           "required,plugin_unique_identifier"),
    _Field("NewPluginUniqueIdentifier", "json", "new_plugin_unique_identifier", "str",
           "required,plugin_unique_identifier"),
    _Field("Source", "json", "source", "str", "required"),
    _Field("Meta", "json", "meta", "map", "omitempty"),
]
_TASK_FIELDS = [_TENANT, _Field("TaskID", "uri", "id", "str", "required")]
_TASK_ITEM_FIELDS = _TASK_FIELDS + [_Field("Identifier", "uri", "identifier", "str", "required")]
_MISSING_FIELDS = [_TENANT, _Field("PluginUniqueIdentifiers", "json", "plugin_unique_identifiers", "strs",
                                   "required,max=256,dive,plugin_unique_identifier")]
_UNINSTALL_FIELDS = [_TENANT, _Field("PluginInstallationID", "json", "plugin_installation_id", "str", "required")]
_BATCH_FIELDS = [_TENANT, _Field("PluginIDs", "json", "plugin_ids", "strs", "required,max=256")]
_README_FIELDS = [_UID_QUERY, _Field("Language", "form", "language", "str", "omitempty")]


MGMT = "/plugin/:tenant_id/management"


def register(router, daemon):
    add_routes(router, daemon, [
        ("POST", MGMT + "/install/upload/package", _r_upload_package, True),
        ("POST", MGMT + "/install/upload/bundle", _r_upload_bundle, True),
        ("POST", MGMT + "/install/identifiers", _r_install, True),
        ("POST", MGMT + "/install/upgrade", _r_upgrade, True),
        ("GET", MGMT + "/install/tasks/:id", _r_task, True),
        ("POST", MGMT + "/install/tasks/delete_all", _r_delete_all_tasks, True),
        ("POST", MGMT + "/install/tasks/:id/delete", _r_delete_task, True),
        ("POST", MGMT + "/install/tasks/:id/delete/*identifier", _r_delete_task_item, True),
        ("GET", MGMT + "/install/tasks", _r_tasks, True),
        ("GET", MGMT + "/decode/from_identifier", _r_decode, True),
        ("GET", MGMT + "/fetch/manifest", _r_manifest, True),
        ("GET", MGMT + "/fetch/identifier", _r_fetch_identifier, True),
        ("GET", MGMT + "/fetch/readme", _r_readme, True),
        ("POST", MGMT + "/uninstall", _r_uninstall, True),
        ("GET", MGMT + "/list", _r_list, True),
        ("POST", MGMT + "/installation/fetch/batch", _r_batch, True),
        ("POST", MGMT + "/installation/missing", _r_missing, True),
    ])


# ---- uploads ---------------------------------------------------------------


def _upload_form(h, file_field, max_size):
    """The daemon's checks of an upload, in its order: the file part, the tenant, the size.

    Returns (form, file part, whether ``verify_signature`` is ``"true"``).
    """
    form = h.multipart_form()
    part = form.file(file_field)
    if part is None:
        raise _bad_request("http: no such file")
    if h.params.get("tenant_id", "") == "":
        raise _bad_request("tenant ID is required")
    if part.size > max_size:
        raise _bad_request("file size exceeds the maximum limit")
    return form, part, form.value("verify_signature") == "true"


def _r_upload_package(daemon, h):
    form, part, verify = _upload_form(h, "dify_pkg", daemon.max_package_size)
    package = _decode_upload(form.open(part), daemon.max_package_size, daemon.signed, verify)
    daemon._store_packages([package])
    stored = daemon._packages[package.identifier]
    return {"manifest": stored.persisted, "unique_identifier": stored.identifier,
            "verification": stored.verification}


def _r_upload_bundle(daemon, h):
    form, part, verify = _upload_form(h, "dify_bundle", daemon.max_bundle_size)
    result, packages = [], []
    with _Bundle(form.open(part)) as bundle:
        for dependency in bundle.manifest.get("dependencies") or []:
            entry = _bundle_dependency(_as_dict(dependency), bundle, verify, daemon.signed)
            if entry is None:
                continue
            if isinstance(entry, _Package):
                packages.append(entry)
                entry = {"type": "package", "value": {"manifest": entry.persisted,
                                                      "unique_identifier": entry.identifier}}
            result.append(entry)
    daemon._store_packages(packages)
    return result


# ---- install tasks -------------------------------------------------------


def _r_install(daemon, h):
    values = h.bind(_INSTALL_FIELDS)
    identifiers = values["PluginUniqueIdentifiers"]
    metas = values["Metas"] if values["Metas"] is not None else []
    if len(metas) != len(identifiers):
        raise _bad_request("the number of metas must be equal to the number of plugin unique identifiers")
    metas = [{} if m is None else m for m in metas]
    if not identifiers:
        return {"all_installed": True, "task_id": ""}
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        packages = []
        for uid in identifiers:
            package = daemon._declaration_of(uid)
            if package is None:
                raise _internal("plugin not found\nfailed to get plugin declaration")
            packages.append(package)
        if all(daemon._refcount.get(uid, 0) > 0 for uid in identifiers):
            # every runtime exists already: installed for this tenant right here (x01, s15)
            for package, meta in zip(packages, metas):
                if daemon._find_installation(tenant, package.plugin_id) is None:
                    daemon._create_installation(tenant, package, values["Source"], meta)
            return {"all_installed": True, "task_id": ""}
        jobs = [{"kind": "install", "identifier": p.identifier, "package": p, "source": values["Source"],
                 "meta": m} for p, m in zip(packages, metas)]
        task = daemon._create_task(tenant, jobs, values["Source"])
    return {"all_installed": False, "task_id": task["id"]}


def _r_tasks(daemon, h):
    values = h.bind(_PAGE_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        tasks = sorted(daemon._tasks.get(tenant, {}).values(), key=lambda t: t["created"], reverse=True)
        return [daemon._task_json(t) for t in page_of(tasks, values)]


def _r_task(daemon, h):
    values = h.bind(_TASK_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    task_id = _require_uuid(values["TaskID"])
    with daemon._lock:
        task = daemon._tasks.get(tenant, {}).get(task_id)
        if task is None:
            raise _internal("record not found")
        return daemon._task_json(task)


def _r_delete_task(daemon, h):
    values = h.bind(_TASK_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    task_id = _require_uuid(values["TaskID"])
    with daemon._lock:
        daemon._tasks.get(tenant, {}).pop(task_id, None)
    return True


def _r_delete_all_tasks(daemon, h):
    values = h.bind([_TENANT])
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        daemon._tasks.pop(tenant, None)
    return True


def _r_delete_task_item(daemon, h):
    values = h.bind(_TASK_ITEM_FIELDS)
    identifier = values["Identifier"].lstrip("/")
    if not IDENTIFIER_RE.match(identifier):
        raise _bad_request("plugin_unique_identifier is not valid: %s" % identifier)
    tenant = _require_uuid(values["TenantID"])
    task_id = _require_uuid(values["TaskID"])
    with daemon._lock:
        tasks = daemon._tasks.get(tenant, {})
        task = tasks.get(task_id)
        if task is None:
            return True
        task["plugins"] = [e for e in task["plugins"] if e["plugin_unique_identifier"] != identifier]
        if all(e["status"] == "success" for e in task["plugins"]):
            del tasks[task_id]
        else:
            task["updated"] = _now()
    return True


# ---- upgrade -------------------------------------------------------------


def _r_upgrade(daemon, h):
    values = h.bind(_UPGRADE_FIELDS)
    original = values["OriginalPluginUniqueIdentifier"]
    new = values["NewPluginUniqueIdentifier"]
    if original == new:
        raise _bad_request("original and new plugin unique identifier are the same")
    if original.split(":", 1)[0] != new.split(":", 1)[0]:
        raise _bad_request("original and new plugin id are different")
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        row = daemon._find_installation(tenant, original.split(":", 1)[0])
        if row is None or row["plugin_unique_identifier"] != original:
            raise _daemon_not_found("plugin installation not found for this tenant")
        if daemon._refcount.get(new, 0) > 0:   # the new runtime exists: switched right here
            package = daemon._declaration_of(new)
            if package is None:
                raise _internal("plugin not found")
            daemon._switch_installation(row, package, values["Source"], values["Meta"])
            return {"all_installed": True, "task_id": ""}
        # the new package is looked for by the task, which fails if it is missing (s16, x02)
        job = {"kind": "upgrade", "identifier": new, "package": daemon._packages.get(new),
               "source": values["Source"], "meta": values["Meta"], "row": row}
        task = daemon._create_task(tenant, [job], values["Source"])
    return {"all_installed": False, "task_id": task["id"]}


# ---- installations -------------------------------------------------------


def _r_list(daemon, h):
    values = h.bind(_PAGE_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        rows = sorted(daemon._installations.get(tenant, []), key=lambda r: r["created"], reverse=True)
        page = [daemon._list_entry(r) for r in page_of(rows, values)]
        return {"list": page, "total": len(rows)}


def _r_batch(daemon, h):
    values = h.bind(_BATCH_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    wanted = set(values["PluginIDs"])
    with daemon._lock:
        out = []
        for row in daemon._installations.get(tenant, []):
            if row["plugin_id"] in wanted and len(out) < 256:
                entry = daemon._row_json(row)
                uid = row["plugin_unique_identifier"]
                entry.update(version=uid.split(":", 1)[1].split("@", 1)[0], checksum=uid.rsplit("@", 1)[1],
                             declaration=daemon._declaration_for(row))
                out.append(entry)
        return out


def _r_missing(daemon, h):
    values = h.bind(_MISSING_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        out = []
        for uid in values["PluginUniqueIdentifiers"]:
            row = daemon._find_installation(tenant, uid.split(":", 1)[0])
            if row is not None and row["plugin_unique_identifier"] == uid:
                continue
            out.append({"plugin_unique_identifier": uid,
                        "current_identifier": row["plugin_unique_identifier"] if row else ""})
        return out


def _r_uninstall(daemon, h):
    values = h.bind(_UNINSTALL_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    installation_id = _require_uuid(values["PluginInstallationID"])
    with daemon._lock:
        rows = daemon._installations.get(tenant, [])
        for row in list(rows):
            if row["id"] == installation_id:
                rows.remove(row)
                daemon._release_identifier(row["plugin_unique_identifier"])
    return True


# ---- manifests and readmes -----------------------------------------------


def _r_manifest(daemon, h):
    values = h.bind([_TENANT, _UID_QUERY])
    with daemon._lock:
        package = daemon._declaration_of(values["PluginUniqueIdentifier"])
    if package is None:
        raise _bad_request("plugin not found")
    return package.persisted


def _r_decode(daemon, h):
    values = h.bind(_DECODE_FIELDS if daemon.release_at_least(0, 5, 5) else _DECODE_FIELDS_054)
    uid = values["PluginUniqueIdentifier"]
    with daemon._lock:
        package = daemon._packages.get(uid)
    if package is None:
        raise _bad_request(PACKAGE_NOT_FOUND)
    return {"manifest": package.original, "unique_identifier": uid, "verification": package.verification}


def _r_fetch_identifier(daemon, h):
    values = h.bind([_UID_QUERY])
    with daemon._lock:
        return daemon._refcount.get(values["PluginUniqueIdentifier"], 0) > 0


def _r_readme(daemon, h):
    values = h.bind(_README_FIELDS)
    uid = values["PluginUniqueIdentifier"]
    with daemon._lock:
        package = daemon._packages.get(uid)
    if package is None:
        raise _internal("failed to get readme from database: " + PACKAGE_NOT_FOUND)
    try:
        readmes = package.readmes()
    except _PkgError as exc:
        raise _internal("failed to get readme from database: %s" % exc)
    language = values["Language"]
    if language not in readmes:
        language = "en_US" if "en_US" in readmes else sorted(readmes)[0]
    return {"content": readmes[language], "language": language}
