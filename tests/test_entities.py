"""Entities: validation with field paths, tolerance of new fields and enum values."""

import datetime
import os

import pytest

import dify_plugin_client as dpc

UTC = datetime.timezone.utc


@pytest.mark.parametrize("text,expected", [
    ("2026-01-02T03:04:05Z", datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2026-01-02T03:04:05.1Z", datetime.datetime(2026, 1, 2, 3, 4, 5, 100000, tzinfo=UTC)),
    ("2026-01-02T03:04:05.123456789Z",
     datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    ("2026-01-02T03:04:05.5+08:00", datetime.datetime(
        2026, 1, 2, 3, 4, 5, 500000, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))),
    ("2026-01-02T03:04:05-05:30", datetime.datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(-datetime.timedelta(hours=5, minutes=30)))),
    ("0001-01-01T00:00:00Z", datetime.datetime(1, 1, 1, tzinfo=UTC)),
])
def test_rfc3339_timestamps(text, expected):
    assert dpc._parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["2026-13-02T03:04:05Z", "2026-01-02", "yesterday",
                                  "2026-01-02T03:04:05.1234567890Z", "2026-01-02T03:04:05+8"])
def test_bad_timestamps(text):
    assert dpc._parse_datetime(text) is None
    with pytest.raises(dpc.ResponseValidationError):
        dpc.PluginInstallTask.from_dict({"id": "t", "status": "running", "created_at": text})


TASK = {
    "id": "0190c0de-0000-7000-8000-000000000001", "created_at": "2026-01-02T03:04:05.123Z",
    "updated_at": "2026-01-02T03:04:06Z", "status": "running",
    "tenant_id": "6f1c2d3e-0000-4000-8000-000000000000", "total_plugins": 2,
    "completed_plugins": 1,
    "plugins": [{"plugin_unique_identifier": "acme/a:1.0.0@" + "a" * 32,
                 "labels": {"en_US": "A"}, "icon": "abc.svg", "icon_dark": "",
                 "plugin_id": "acme/a", "status": "success", "message": "installed",
                 "source": "marketplace"}],
}


def test_task_round_trip_and_enums():
    task = dpc.PluginInstallTask.from_dict(TASK)
    assert task.status == "running" and task.status is dpc.PluginInstallTaskStatus.Running
    assert task.plugins[0].status == dpc.PluginInstallTaskStatus.Success
    assert task.plugins[0].labels.en_US == "A"
    assert task.created_at.microsecond == 123000
    assert task.to_dict() == dict(TASK, created_at="2026-01-02T03:04:05.123000Z",
                                  updated_at="2026-01-02T03:04:06Z",
                                  plugins=[dict(TASK["plugins"][0],
                                                labels={"en_US": "A", "zh_Hans": None,
                                                        "ja_JP": None, "pt_BR": None})])


def test_unknown_keys_and_enum_values_are_kept():
    data = dict(TASK, status="paused", brand_new={"x": 1})
    task = dpc.PluginInstallTask.from_dict(data)
    assert task.status == "paused" and task.extra == {"brand_new": {"x": 1}}
    assert task.to_dict()["brand_new"] == {"x": 1}
    installation = dpc.PluginInstallation.from_dict({
        "id": "i", "plugin_id": "acme/a", "plugin_unique_identifier": "u", "source": "s3",
        "meta": None})
    assert installation.source == "s3" and installation.meta == {}


@pytest.mark.parametrize("mutate,path", [
    (lambda d: d.pop("id"), "data.id"),
    (lambda d: d.update(id=None), "data.id"),
    (lambda d: d.update(total_plugins="2"), "data.total_plugins"),
    (lambda d: d.update(total_plugins=True), "data.total_plugins"),
    (lambda d: d["plugins"][0].pop("plugin_unique_identifier"),
     "data.plugins[0].plugin_unique_identifier"),
    (lambda d: d["plugins"][0].update(labels=[]), "data.plugins[0].labels"),
    (lambda d: d.update(plugins={}), "data.plugins"),
])
def test_missing_or_mistyped_fields_name_their_path(mutate, path):
    import copy

    data = copy.deepcopy(TASK)
    mutate(data)
    with pytest.raises(dpc.ResponseValidationError) as info:
        dpc.PluginInstallTask.from_dict(data, "data")
    assert info.value.path == path and path in str(info.value)


def test_nulls_for_lists_become_empty():
    task = dpc.PluginInstallTask.from_dict(dict(TASK, plugins=None))
    assert task.plugins == []


MANIFEST = {
    "version": "0.0.1", "type": "plugin", "author": "acme", "name": "echo",
    "label": {"en_US": "Echo"}, "description": {"en_US": "Echoes", "zh_Hans": "回声"},
    "icon": "d1.svg", "icon_dark": "", "created_at": "2026-01-02T03:04:05Z",
    "resource": {"memory": 268435456, "permission": {"tool": {"enabled": True}}},
    "plugins": {"tools": ["provider/echo.yaml"], "models": None},
    "meta": {"version": "0.0.1", "arch": ["amd64", "arm64"],
             "runner": {"language": "python", "version": "3.12", "entrypoint": "main"},
             "minimum_dify_version": None},
    "tags": ["utilities", "brand-new-tag"], "verified": False,
    "tool": {"identity": {"author": "acme", "name": "echo", "label": {"en_US": "Echo"},
                          "description": {"en_US": ""}, "icon": "d1.svg", "icon_dark": "",
                          "tags": []},
             "credentials_schema": [], "oauth_schema": None,
             "tools": [{"identity": {"author": "acme", "name": "say", "label": {"en_US": "S"}},
                        "description": {"human": {"en_US": "h"}, "llm": "l"},
                        "parameters": None, "has_runtime_parameters": False}]},
}


def test_manifest_with_nested_parts():
    manifest = dpc.PluginDeclaration.from_dict(MANIFEST)
    assert manifest.category == "tool"
    assert manifest.plugins.tools == ["provider/echo.yaml"] and manifest.plugins.models == []
    assert manifest.meta.runner.entrypoint == "main"
    assert manifest.resource.permission.tool == {"enabled": True}
    assert manifest.tool.tools[0].parameters == [] and manifest.tool.tools[0].output_schema == {}
    assert manifest.description.get("zh_Hans") == "回声" and manifest.label.get("ja_JP") == "Echo"
    assert "brand-new-tag" in manifest.tags
    assert dpc.PluginDeclaration.from_dict(dict(MANIFEST, tool=None)).category == "extension"


def test_decode_response_and_bundle_dependencies():
    decoded = dpc.PluginDecodeResponse.from_dict({
        "unique_identifier": "acme/echo:0.0.1@" + "b" * 64, "manifest": MANIFEST,
        "verification": {"authorized_category": "community"}})
    assert decoded.verification.authorized_category == "community"
    dependencies = [dpc.PluginBundleDependency.from_dict(item, "data") for item in [
        {"type": "github", "value": {"repo_address": "https://github.com/o/r", "repo": "o/r",
                                     "release": "v1", "packages": "p.difypkg"}},
        {"type": "marketplace", "value": {"organization": "o", "plugin": "p", "version": "1"}},
        {"type": "package", "value": {"unique_identifier": "u", "manifest": MANIFEST}},
        {"type": "future", "value": {"anything": 1}}]]
    assert isinstance(dependencies[0].value, dpc.GithubDependency)
    assert isinstance(dependencies[1].value, dpc.MarketplaceDependency)
    assert dependencies[2].value.manifest.name == "echo"
    assert dependencies[3].value == {"anything": 1}
    with pytest.raises(dpc.ResponseValidationError) as info:
        dpc.PluginBundleDependency.from_dict({"type": "package", "value": {}}, "data[2]")
    assert info.value.path == "data[2].value.unique_identifier"


def test_list_response_with_plugin_entities():
    entity = {"id": "i1", "installation_id": "i1", "name": "echo", "plugin_id": "acme/echo",
              "plugin_unique_identifier": "acme/echo:0.0.1@" + "c" * 32, "tenant_id": "t",
              "version": "0.0.1", "checksum": "c" * 32, "runtime_type": "local",
              "source": "package", "meta": {}, "endpoints_setups": 0, "endpoints_active": 0,
              "declaration": MANIFEST, "created_at": "2026-01-02T03:04:05Z",
              "updated_at": "2026-01-02T03:04:05Z"}
    page = dpc.PluginListResponse.from_dict({"list": [entity], "total": 7})
    assert page.total == 7 and page.list[0].name == "echo"
    assert page.list[0].source is dpc.PluginInstallationSource.Package
    assert page.list[0].declaration.tool.identity.name == "echo"


def test_entities_are_dataclasses_and_keep_extra_out_of_equality():
    import dataclasses

    first = dpc.MissingPluginDependency.from_dict({"plugin_unique_identifier": "a",
                                                  "current_identifier": "", "x": 1})
    second = dpc.MissingPluginDependency(plugin_unique_identifier="a", current_identifier="")
    assert dataclasses.is_dataclass(first) and first == second
    assert first.extra == {"x": 1} and second.extra == {}


# --- entities declared by their annotations ------------------------------------------


def _entity_classes():
    return [value for value in vars(dpc).values()
            if isinstance(value, type) and issubclass(value, dpc._Entity)
            and value is not dpc._Entity]


def test_every_entity_class_prepares_and_takes_what_its_annotations_say():
    import dataclasses

    for cls in _entity_classes():
        assert dataclasses.is_dataclass(cls), cls
        fields = {field.name for field in dataclasses.fields(cls)}
        assert "extra" in fields and set(cls._field_names) == fields - {"extra"}, cls
        entity = cls()  # every field has a default a caller may leave out
        if issubclass(cls, dpc.ToolInvokeMessage):  # type "" is no message type: a real one
            entity = cls(type="text", message=dpc.TextMessage(text="x"))
        unset = [spec.name for spec in cls._specs if spec.required and not spec.null_ok
                 and getattr(entity, spec.name) is None]  # (required Optional: null is a value)
        if cls in (dpc.FileMessage, dpc.UnknownMessage):
            # their wire form is the raw payload; it round-trips inside ToolInvokeMessage
            message = dpc.ToolInvokeMessage(type="file", message=cls(data={"u": 1}))
            assert dpc.ToolInvokeMessage.from_dict(message.to_dict()).message.data == {"u": 1}
        elif unset:  # a required entity field left out: from_dict names it
            with pytest.raises(dpc.ResponseValidationError) as info:
                cls.from_dict(entity.to_dict())
            assert info.value.path.rsplit(".", 1)[-1] in unset, (cls, info.value.path)
        else:
            assert cls.from_dict(entity.to_dict()) == entity, cls


def test_extra_is_per_instance_and_replace_keeps_it():
    import dataclasses

    plain = dpc.TextMessage(text="a")
    other = dpc.TextMessage(text="b")
    plain.extra["mine"] = 1  # no dict shared between entities that had no unknown keys
    assert other.extra == {} and dpc.TextMessage.from_dict({"text": "c"}).extra == {}
    assert "mine" not in other.to_dict()
    parsed = dpc.PluginInstallTask.from_dict({"id": "t", "status": "running", "new": [1]})
    copied = dataclasses.replace(parsed, status=dpc.PluginInstallTaskStatus.Success)
    assert copied.extra == {"new": [1]} and copied.to_dict()["new"] == [1]


def test_null_for_a_str_field_is_its_default_and_optional_keeps_none():
    task = dpc.PluginInstallTaskPluginStatus.from_dict(
        {"plugin_unique_identifier": "a", "status": "running", "message": None, "icon": None,
         "labels": None, "source": None})
    assert task.message == "" and task.icon == "" and task.labels is None and task.source is None
    start = dpc.PluginInstallTaskStartResponse.from_dict({"all_installed": True,
                                                          "task_id": None})
    assert start.task_id == ""


def test_timestamps_are_datetimes_and_prices_decimals():
    import datetime
    import decimal

    provider = dpc.PluginToolProviderEntity.from_dict({
        "provider": "p", "plugin_id": "a/b", "created_at": "2026-01-02T03:04:05Z"})
    assert isinstance(provider.created_at, datetime.datetime)
    assert dpc._conv_decimal("0.0010", "price") == decimal.Decimal("0.0010")
    with pytest.raises(dpc.ResponseValidationError):
        dpc._conv_decimal("NaN", "price")


def test_annotations_drive_converters_including_tagged_unions():
    bundle = dpc.PluginBundleDependency.from_dict(
        {"type": "marketplace", "value": {"organization": "o", "plugin": "p", "version": "1"}})
    assert isinstance(bundle.value, dpc.MarketplaceDependency)
    unknown = dpc.PluginBundleDependency.from_dict({"type": "s3", "value": {"bucket": "b"}})
    assert unknown.value == {"bucket": "b"}  # a new kind keeps the daemon's object
    message = dpc.ToolInvokeMessage.from_dict({"type": "brand_new", "message": {"x": 1}})
    assert isinstance(message.message, dpc.UnknownMessage) and message.message.data == {"x": 1}
    with pytest.raises(TypeError):
        dpc._converter_for(dpc._parse_annotation("Union[int, str]"), "here")


def test_help_shows_fields_and_types(capsys):
    import pydoc

    text = pydoc.render_doc(dpc.PluginInstallTask, renderer=pydoc.plaintext)
    for needed in ("id: 'str'", "status: 'Union[PluginInstallTaskStatus, str]'",
                   "plugins: 'List[PluginInstallTaskPluginStatus]'",
                   "created_at: 'Optional[datetime]'"):
        assert needed in text, needed


def test_a_class_is_prepared_only_when_first_used():
    import subprocess
    import sys

    code = ("import dify_plugin_client as d\n"
            "d.PluginConfig(url='http://x', key='kkkk')\n"
            "prepared = [n for n, v in vars(d).items() if isinstance(v, type)"
            " and issubclass(v, d._Entity) and v.__dict__.get('_prepared')]\n"
            "print(prepared)\n"
            "d.TextMessage.from_dict({'text': 'a'})\n"
            "print([n for n, v in vars(d).items() if isinstance(v, type)"
            " and issubclass(v, d._Entity) and v.__dict__.get('_prepared')])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "['TextMessage']"]


def test_tool_provider_fields_keep_their_order():
    """PluginToolProviderEntity shares its naming with the other provider entities, not
    its fields: built positionally, each value lands where it always did."""
    import dataclasses

    names = [field.name for field in dataclasses.fields(dpc.PluginToolProviderEntity)]
    assert names == ["provider", "plugin_id", "plugin_unique_identifier", "declaration", "id",
                     "tenant_id", "created_at", "updated_at", "extra"]
    declaration = dpc.ToolProviderDeclaration(identity=dpc.ToolProviderIdentity(name="s"))
    entity = dpc.PluginToolProviderEntity("s", "acme/s", "acme/s:1@x", declaration, "row-1")
    assert (entity.declaration, entity.id, entity.full_name) == (declaration, "row-1",
                                                                 "acme/s/s")


def test_tts_chunk_round_trips_in_hex():
    chunk = dpc._TTSChunk.from_dict({"result": "00ffAB", "mime_type": "audio/mpeg"})
    assert chunk.result == b"\x00\xff\xab"
    assert chunk.to_dict() == {"result": "00ffab", "mime_type": "audio/mpeg"}
    assert dpc._TTSChunk.from_dict(chunk.to_dict()).result == chunk.result
    assert dpc._TTSChunk().result == b""
