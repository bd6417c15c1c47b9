"""Helpers tests use to make plugin packages and tool responses.

* :func:`build_package`: a ``.difypkg`` from manifest/provider/tool dicts;
* :func:`sample_plugin`: a ready-made tool plugin (provider ``echo``, tools
  ``echo``, ``ping``, ``blob``);
* :func:`blob_chunks`: bytes split into ``blob_chunk`` messages the way the
  plugin SDK sends them.
"""

import base64
import io
import json
import uuid
import zipfile

import yaml

from .packages import _as_dict


def blob_chunks(data, meta=None, chunk=8192):
    """Split bytes the way the plugin SDK sends a blob for tools (tools.md §6.3).

    Returns ``blob_chunk`` ToolResponseChunk dicts: one per ``chunk`` bytes, then a
    final empty chunk with ``end: true``; all share a uuid4 hex ``id`` and ``meta``.
    """
    blob_id = uuid.uuid4().hex
    slices = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    out = []
    for sequence, piece in enumerate(slices):
        out.append({"type": "blob_chunk", "message": {
            "id": blob_id, "sequence": sequence, "total_length": len(data),
            "blob": base64.b64encode(piece).decode("ascii"), "end": False}, "meta": meta})
    out.append({"type": "blob_chunk", "message": {
        "id": blob_id, "sequence": len(slices), "total_length": len(data), "blob": "", "end": True},
        "meta": meta})
    return out


_FIXED_DATE = (2024, 1, 1, 0, 0, 0)
_ICON_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16">'
             b'<rect width="16" height="16" fill="#1c64f2"/></svg>\n')


def _zip_info(path):
    info = zipfile.ZipInfo(path, date_time=_FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _dump_yaml(value):
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False).encode("utf-8")


def _zip_files(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(_zip_info(path), files[path])
    return buffer.getvalue()


def build_package(manifest, provider, tools, *, readme=None, readmes=None, extra_files=None):
    """Build a ``.difypkg`` (zip of file entries only, sorted, deflated).

    ``manifest`` and ``provider`` are dicts dumped to ``manifest.yaml`` and the
    provider file (``manifest["plugins"]["tools"][0]``, default
    ``provider/<name>.yaml``); ``tools`` maps tool yaml paths to dicts (the
    provider's ``tools`` list defaults to those paths).  Icons named by the
    manifest or provider get a generated SVG under ``_assets/`` unless given.
    ``readme`` becomes README.md, ``readmes`` ``{lang: text}`` become
    ``readme/README_<lang>.md``.  ``extra_files`` ``{path: bytes|str|None}``
    adds or (with None) removes files.
    """
    manifest = json.loads(json.dumps(manifest))
    provider = json.loads(json.dumps(provider)) if provider is not None else None
    files = {}
    if provider is not None:
        plugins = manifest.setdefault("plugins", {})
        if not plugins.get("tools"):
            plugins["tools"] = ["provider/%s.yaml" % _as_dict(provider.get("identity")).get("name", "provider")]
        if "tools" not in provider:
            provider["tools"] = list(tools or {})
        files[plugins["tools"][0]] = _dump_yaml(provider)
    for path, tool in (tools or {}).items():
        files[path] = _dump_yaml(tool)
    files["manifest.yaml"] = _dump_yaml(manifest)
    icons = [manifest.get("icon"), manifest.get("icon_dark")]
    if provider is not None:
        identity = _as_dict(provider.get("identity"))
        icons += [identity.get("icon"), identity.get("icon_dark")]
    for icon in icons:
        if icon:
            files.setdefault("_assets/" + icon, _ICON_SVG)
    files.setdefault("requirements.txt", b"dify_plugin>=0.9.0,<0.10.0\n")
    files.setdefault("main.py", b"from dify_plugin import DifyPluginEnv, Plugin\n\n"
                                b"plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=120))\n\n"
                                b"if __name__ == \"__main__\":\n    plugin.run()\n")
    if readme is not None:
        files["README.md"] = readme.encode("utf-8") if isinstance(readme, str) else readme
    for lang, text in (readmes or {}).items():
        files["readme/README_%s.md" % lang] = text.encode("utf-8") if isinstance(text, str) else text
    for path, data in (extra_files or {}).items():
        if data is None:
            files.pop(path, None)
        else:
            files[path] = data.encode("utf-8") if isinstance(data, str) else data
    return _zip_files(files)


def _i18n_label(text):
    return {"en_US": text, "zh_Hans": text}


def _param(name, ptype, form="llm", required=False, **extra):
    param = {"name": name, "type": ptype, "required": required, "label": {"en_US": name.title()},
             "human_description": {"en_US": "The %s parameter" % name}, "form": form}
    if form == "llm":
        param["llm_description"] = "%s for the tool" % name
    param.update(extra)
    return param


def sample_plugin(author="acme", name="echo", version="0.0.1", *, provider=None, label="Echo",
                  readme="# Echo\n\nA sample tool plugin for tests.\n", readmes=None, tags=("utilities",),
                  extra_files=None):
    """A ready-made tool plugin package (bytes).

    One provider (``provider`` defaults to ``name``) with credentials given as a
    ``credentials_for_provider`` map, and three tools:

    * ``echo``: parameters covering string (required, no default), number
      (min/max/default/precision), boolean, select (options), secret-input,
      file, files, array, object, a form parameter with a default; plus an
      ``output_schema`` using ``https://dify.ai/schemas/v1/file.json`` and a
      local ``#/$defs/...`` ref;
    * ``ping``: no parameters (the daemon sends ``parameters: null``);
    * ``blob``: one number parameter, handy for blob-chunk handlers.
    """
    provider = provider or name
    manifest = {
        "version": version, "type": "plugin", "author": author, "name": name,
        "label": _i18n_label(label), "description": {"en_US": "%s plugin for tests" % label},
        "icon": "icon.svg", "resource": {"memory": 268435456, "permission": {"tool": {"enabled": True}}},
        "plugins": {"tools": ["provider/%s.yaml" % provider]},
        "meta": {"version": "0.0.1", "arch": ["amd64", "arm64"],
                 "runner": {"language": "python", "version": "3.12", "entrypoint": "main"},
                 "minimum_dify_version": None},
        "created_at": "2024-01-01T00:00:00Z", "privacy": "PRIVACY.md", "tags": list(tags),
    }
    provider_yaml = {
        "identity": {"author": author, "name": provider, "label": _i18n_label(label),
                     "description": {"en_US": "%s tools" % label}, "icon": "icon.svg", "tags": list(tags)},
        "credentials_for_provider": {
            "api_key": {"type": "secret-input", "required": True, "label": {"en_US": "API key"},
                        "placeholder": {"en_US": "sk-..."}, "help": {"en_US": "Your key"},
                        "url": "https://example.com/keys"},
            "region": {"type": "select", "required": False, "default": "us", "label": {"en_US": "Region"},
                       "options": [{"value": "us", "label": {"en_US": "US"}},
                                   {"value": "eu", "label": {"en_US": "EU"}}]},
        },
        "tools": ["tools/echo.yaml", "tools/ping.yaml", "tools/blob.yaml"],
        "extra": {"python": {"source": "provider/%s.py" % provider}},
    }
    echo = {
        "identity": {"name": "echo", "author": author, "label": {"en_US": "Echo"}},
        "description": {"human": {"en_US": "Echo the parameters back"}, "llm": "Echoes its parameters"},
        "parameters": [
            _param("text", "string", required=True),
            _param("count", "number", form="form", default=3, min=1, max=10, precision=0),
            _param("ratio", "number", min=0, max=1.5, default=0.5),
            _param("flag", "boolean", form="form", default=False),
            _param("mode", "select", form="form", default="a", options=[
                {"value": "a", "label": {"en_US": "A"}}, {"value": "b", "label": {"en_US": "B"}, "icon": "b.svg"}]),
            _param("token", "secret-input", form="form"),
            _param("doc", "file"),
            _param("docs", "files"),
            _param("items", "array"),
            _param("config", "object"),
            _param("greeting", "string", form="form", default="hello"),
        ],
        "output_schema": {
            "type": "object",
            "properties": {
                "file": {"$ref": "https://dify.ai/schemas/v1/file.json"},
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
            },
            "$defs": {"item": {"type": "object", "properties": {"name": {"type": "string"}}}},
        },
        "extra": {"python": {"source": "tools/echo.py"}},
    }
    ping = {
        "identity": {"name": "ping", "author": author, "label": {"en_US": "Ping"}},
        "description": {"human": {"en_US": "Answer pong"}, "llm": "Answers pong"},
        "extra": {"python": {"source": "tools/ping.py"}},
    }
    blob = {
        "identity": {"name": "blob", "author": author, "label": {"en_US": "Blob"}},
        "description": {"human": {"en_US": "Return bytes"}, "llm": "Returns bytes"},
        "parameters": [_param("size", "number", default=16)],
        "extra": {"python": {"source": "tools/blob.py"}},
    }
    extras = {"PRIVACY.md": "No data is collected.\n", "_assets/b.svg": _ICON_SVG}
    extras.update(extra_files or {})
    return build_package(manifest, provider_yaml,
                         {"tools/echo.yaml": echo, "tools/ping.yaml": ping, "tools/blob.yaml": blob},
                         readme=readme, readmes=readmes, extra_files=extras)
