"""Plugin packages: .difypkg and .difybndl decoding, as the daemon's upload pipeline does it.

* YAML with Go yaml.v3 scalar rules (:func:`_yaml_load`);
* normalisation of manifest.yaml, the provider and tool files into the JSON
  declaration shapes of daemon-api.md §5 (:func:`_parse_declaration`);
* manifest validation, the package checksum and unique identifier
  (:func:`package_identifier`), asset ids and icon remapping;
* :class:`_Package` (what the daemon stores after an upload) and the upload
  pipelines for one package (:func:`_decode_upload`) and for a bundle's
  dependencies (:class:`_Bundle`, :func:`_bundle_dependency`).

Decoding failures raise :class:`_PkgError`; the upload pipelines turn them into
the daemon's error envelopes.
"""

import hashlib
import io
import json
import os
import re
import uuid
import zipfile
import zlib

import yaml

from .wire import IDENTIFIER_RE, _bad_request, _go_number, _go_value, _internal

AUTHOR_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
PLUGIN_NAME_RE = re.compile(r"^[a-z0-9_-]{1,128}$")
README_LANG_RE = re.compile(r"^README_([a-z]{2}_[A-Za-z]{2,})\.md$")

BAD_SIGNATURE = (
    "plugin verification has been enabled, and the plugin you want to install has a bad signature"
)
UNAUTHORIZED_LANGGENIUS = (
    "the plugin claims to be from langgenius but it is not signed by langgenius\n"
    "if you want to install it anyway, set ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES=false"
)


class _PkgError(Exception):
    """A package or manifest decoding failure (message as the daemon words it)."""


class _PersistError(_PkgError):
    """A failure while storing a decoded package (asset remapping): "failed to save package"."""


class _Files(dict):
    """A package's files, path -> bytes; ``directories`` lists its directory entries in zip order."""

    directories = ()


_YAML_TIME_RE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ]+(\d{1,2}):(\d{2}):(\d{2})(\.\d+)?)?"
    r"\s*(Z|z|[+-]\d{1,2}(?::?\d{2})?)?$"
)


def _go_time_text(value):
    """Render a manifest ``created_at`` the way the daemon re-emits it."""
    if value is None or value == "":
        return "0001-01-01T00:00:00Z"
    match = _YAML_TIME_RE.match(str(value).strip())
    if not match:
        raise _PkgError('parsing time "%s" as "2006-01-02T15:04:05Z07:00": cannot parse' % value)
    year, month, day, hour, minute, second, frac, zone = match.groups()
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    if frac:
        digits = frac[1:10].rstrip("0")
        if digits:
            text += "." + digits
    if not zone or zone in ("Z", "z"):
        return text + "Z"
    sign, digits = zone[0], zone[1:].replace(":", "")
    if len(digits) <= 2:
        hours, mins = int(digits), 0
    else:
        hours, mins = int(digits[:-2]), int(digits[-2:])
    if hours == 0 and mins == 0:
        return text + "Z"      # Go's "Z07:00" layout prints Z for a zero offset
    return text + "%s%02d:%02d" % (sign, hours, mins)


# --------------------------------------------------------------------------
# YAML loading with Go yaml.v3 scalar rules
# --------------------------------------------------------------------------


class _GoYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars: no yes/no booleans, no sexagesimal
    ints, timestamps kept as strings (as yaml.v3 does for ``any`` fields)."""


def _setup_yaml_loader():
    dropped = set([
        "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp",
    ])
    resolvers = {}
    for first, items in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in items if tag not in dropped]
        if kept:
            resolvers[first] = kept
    _GoYamlLoader.yaml_implicit_resolvers = resolvers
    _GoYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    _GoYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
        list("-+0123456789"))
    _GoYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                   r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+0123456789."))


_setup_yaml_loader()


def _yaml_load(data, type_name):
    """Parse YAML bytes; the top level must be a mapping (a Go struct)."""
    try:
        value = yaml.load(data, Loader=_GoYamlLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 0
        raise _PkgError("yaml: line %d: %s" % (line, exc.problem or exc.context or "invalid yaml"))
    except yaml.YAMLError as exc:
        raise _PkgError("yaml: %s" % exc)
    if value is None:
        return {}
    if not isinstance(value, dict):
        tag = "!!seq" if isinstance(value, list) else "!!str"
        raise _PkgError("yaml: unmarshal errors:\n  line 1: cannot unmarshal %s into %s" % (tag, type_name))
    return value


# --------------------------------------------------------------------------
# Declaration normalisation: YAML -> the JSON shapes of daemon-api.md §5
# --------------------------------------------------------------------------


def _as_str(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _opt_str(value):
    return None if value is None else _as_str(value)


_YAML_TRUE = frozenset(["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"])


def _as_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value in _YAML_TRUE
    return bool(value)


def _as_int(value):
    if isinstance(value, bool) or value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _opt_int(value):
    return None if value is None else _as_int(value)


def _opt_float(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        return _go_number(float(value))
    except (TypeError, ValueError):
        return None


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def _str_list(value):
    if value is None:
        return None
    if not isinstance(value, list):
        value = [value]
    return [_as_str(v) for v in value]


def _i18n(value):
    """I18nObject: en_US always present, other languages only when non-empty."""
    if isinstance(value, str):
        return {"en_US": value}
    value = _as_dict(value)
    out = {"en_US": _as_str(value.get("en_US"))}
    for lang in ("zh_Hans", "ja_JP", "pt_BR"):
        text = _as_str(value.get(lang))
        if text:
            out[lang] = text
    return out


def _opt_i18n(value):
    return None if value is None else _i18n(value)


def _permission(raw):
    out = {}
    for name in ("tool", "model", "node", "endpoint", "app", "storage"):
        if raw.get(name) is None:
            continue
        item = _as_dict(raw[name])
        if name == "model":
            out[name] = dict((k, _as_bool(item.get(k))) for k in (
                "enabled", "llm", "text_embedding", "rerank", "tts", "speech2text", "moderation"))
        elif name == "storage":
            out[name] = {"enabled": _as_bool(item.get("enabled")), "size": _as_int(item.get("size"))}
        else:
            out[name] = {"enabled": _as_bool(item.get("enabled"))}
    return out


def _norm_manifest(raw):
    """The flat PluginDeclaration of §5.2 (without the provider sections)."""
    resource = _as_dict(raw.get("resource"))
    resource_out = {"memory": _as_int(resource.get("memory"))}
    if resource.get("permission") is not None:
        resource_out["permission"] = _permission(_as_dict(resource.get("permission")))
    plugins = _as_dict(raw.get("plugins"))
    meta = _as_dict(raw.get("meta"))
    runner = _as_dict(meta.get("runner"))
    decl = {
        "version": _as_str(raw.get("version")),
        "type": _as_str(raw.get("type")),
        "author": _as_str(raw.get("author")),
        "name": _as_str(raw.get("name")),
        "label": _i18n(raw.get("label")),
        "description": _i18n(raw.get("description")),
        "icon": _as_str(raw.get("icon")),
        "icon_dark": _as_str(raw.get("icon_dark")),
        "resource": resource_out,
        "plugins": dict((k, _str_list(plugins.get(k))) for k in (
            "tools", "models", "endpoints", "agent_strategies", "datasources", "triggers")),
        "meta": {
            "version": _as_str(meta.get("version")),
            "arch": _str_list(meta.get("arch")),
            "runner": {
                "language": _as_str(runner.get("language")),
                "version": _as_str(runner.get("version")),
                "entrypoint": _as_str(runner.get("entrypoint")),
            },
            "minimum_dify_version": _opt_str(meta.get("minimum_dify_version")),
        },
        "tags": _str_list(raw.get("tags")) or [],
        "created_at": _go_time_text(raw.get("created_at")),
    }
    for optional in ("privacy", "repo"):
        if raw.get(optional) is not None:
            decl[optional] = _as_str(raw.get(optional))
    decl["verified"] = False
    return decl


def _norm_provider_config(raw, name=None):
    """ProviderConfig (credentials_schema / oauth_schema entries)."""
    raw = _as_dict(raw)
    options = raw.get("options")
    if isinstance(options, list):
        options = [{"value": _as_str(_as_dict(o).get("value")), "label": _i18n(_as_dict(o).get("label"))}
                   for o in options]
    else:
        options = None
    return {
        "name": _as_str(name if name is not None else raw.get("name")),
        "type": _as_str(raw.get("type")),
        "scope": _opt_str(raw.get("scope")),
        "required": _as_bool(raw.get("required")),
        "default": _go_value(raw.get("default")),
        "options": options,
        "multiple": _as_bool(raw.get("multiple")),
        "label": _i18n(raw.get("label")),
        "help": _opt_i18n(raw.get("help")),
        "url": _opt_str(raw.get("url")),
        "placeholder": _opt_i18n(raw.get("placeholder")),
    }


def _norm_config_list(raw):
    """credentials_for_provider may be a map (names from keys) or a list."""
    if isinstance(raw, dict):
        return [_norm_provider_config(v, name=k) for k, v in raw.items() if isinstance(v, dict)]
    if isinstance(raw, list):
        return [_norm_provider_config(v) for v in raw]
    return []


def _norm_param(raw):
    """ToolParameter with every key of tools.md §2.7 present."""
    raw = _as_dict(raw)
    options = raw.get("options")
    if isinstance(options, list):
        options = [{"value": _as_str(_as_dict(o).get("value")), "label": _i18n(_as_dict(o).get("label")),
                    "icon": _as_str(_as_dict(o).get("icon"))} for o in options]
    else:
        options = None
    auto = raw.get("auto_generate")
    template = raw.get("template")
    return {
        "name": _as_str(raw.get("name")),
        "label": _i18n(raw.get("label")),
        "human_description": _i18n(raw.get("human_description")),
        "type": _as_str(raw.get("type")),
        "scope": _opt_str(raw.get("scope")),
        "form": _as_str(raw.get("form")),
        "llm_description": _as_str(raw.get("llm_description")),
        "required": _as_bool(raw.get("required")),
        "auto_generate": None if auto is None else {"type": _as_str(_as_dict(auto).get("type"))},
        "template": None if template is None else {"enabled": _as_bool(_as_dict(template).get("enabled"))},
        "default": _go_value(raw.get("default")),
        "min": _opt_float(raw.get("min")),
        "max": _opt_float(raw.get("max")),
        "multiple": _as_bool(raw.get("multiple")),
        "precision": _opt_int(raw.get("precision")),
        "options": options,
    }


def _norm_tool(raw):
    """ToolDeclaration: no identity.provider, parameters null when none, output_schema omitted when empty."""
    identity = _as_dict(raw.get("identity"))
    description = _as_dict(raw.get("description"))
    params = raw.get("parameters")
    tool = {
        "identity": {
            "author": _as_str(identity.get("author")),
            "name": _as_str(identity.get("name")),
            "label": _i18n(identity.get("label")),
        },
        "description": {"human": _i18n(description.get("human")), "llm": _as_str(description.get("llm"))},
        "parameters": [_norm_param(p) for p in params] if isinstance(params, list) else None,
    }
    schema = raw.get("output_schema")
    if isinstance(schema, dict) and schema:
        tool["output_schema"] = _go_value(schema)
    tool["has_runtime_parameters"] = _as_bool(raw.get("has_runtime_parameters"))
    return tool


def _norm_tool_provider(raw):
    """ToolProviderDeclaration; returns (declaration, tool file paths)."""
    identity = _as_dict(raw.get("identity"))
    creds = raw.get("credentials_schema")
    if not creds:
        creds = raw.get("credentials_for_provider")
    oauth = raw.get("oauth_schema")
    if isinstance(oauth, dict):
        oauth = dict((key, _norm_config_list(oauth[key]) if oauth.get(key) is not None else None)
                     for key in ("client_schema", "credentials_schema"))
    else:
        oauth = None
    decl = {
        "identity": {
            "author": _as_str(identity.get("author")),
            "name": _as_str(identity.get("name")),
            "description": _i18n(identity.get("description")),
            "icon": _as_str(identity.get("icon")),
            "icon_dark": _as_str(identity.get("icon_dark")),
            "label": _i18n(identity.get("label")),
            "tags": _str_list(identity.get("tags")) or [],
        },
        "credentials_schema": _norm_config_list(creds),
        "oauth_schema": oauth,
        "tools": [],
    }
    files = []
    for item in raw.get("tools") or []:
        if isinstance(item, dict):
            decl["tools"].append(_norm_tool(item))
        elif item is not None:
            files.append(_as_str(item))
    return decl, files


_SECTIONS = (
    ("tools", "tool", "tool"), ("endpoints", "endpoint", "endpoint"), ("models", "model", "model"),
    ("agent_strategies", "agent_strategy", "agent strategy"),
    ("datasources", "datasource", "datasource"), ("triggers", "trigger", "trigger"),
)


def _read_member(files, path, what):
    if path not in files:
        raise _PkgError("open %s: file does not exist\nfailed to read %s file: %s" % (path, what, path))
    return files[path]


def _parse_declaration(files):
    """Decode manifest.yaml and the provider files: the daemon's Manifest()."""
    if "manifest.yaml" not in files:
        raise _PkgError("open manifest.yaml: file does not exist")
    raw = _yaml_load(files["manifest.yaml"], "plugin_entities.PluginDeclaration")
    decl = _norm_manifest(raw)
    for list_key, field, what in _SECTIONS:
        for path in decl["plugins"][list_key] or []:
            data = _read_member(files, path, what)
            try:
                section = _yaml_load(data, "plugin_entities.ProviderDeclaration")
            except _PkgError as exc:
                raise _PkgError("%s\nfailed to unmarshal plugin file: %s" % (exc, path))
            if field != "tool":
                decl[field] = _go_value(section)   # not modelled in detail: passed through
                continue
            provider, tool_files = _norm_tool_provider(section)
            for tool_path in tool_files:
                tool_data = _read_member(files, tool_path, "tool")
                try:
                    provider["tools"].append(_norm_tool(_yaml_load(tool_data, "plugin_entities.ToolDeclaration")))
                except _PkgError as exc:
                    raise _PkgError("%s\nfailed to unmarshal tool file: %s" % (exc, tool_path))
            decl["tool"] = provider
    if "tool" in decl:
        identity = decl["tool"]["identity"]
        if identity["description"]["en_US"] == "":
            identity["description"] = dict(decl["description"])
        if not identity["tags"]:
            identity["tags"] = list(decl["tags"])
    return _order_declaration(decl)


def _order_declaration(decl):
    order = ["version", "type", "author", "name", "label", "description", "icon", "icon_dark",
             "resource", "plugins", "meta", "tags", "created_at", "privacy", "repo", "verified",
             "endpoint", "model", "tool", "agent_strategy", "datasource", "trigger"]
    return dict((k, decl[k]) for k in order if k in decl)


def _manifest_validate(decl):
    """ManifestValidate plus the naming rules; returns an error text or None."""
    if not AUTHOR_RE.match(decl["author"]):
        return "plugin author %r must match %s" % (decl["author"], AUTHOR_RE.pattern)
    if not PLUGIN_NAME_RE.match(decl["name"]):
        return "plugin name %r must match %s" % (decl["name"], PLUGIN_NAME_RE.pattern)
    present = set(k for k in ("endpoint", "model", "tool", "agent_strategy", "datasource", "trigger") if k in decl)
    if not present:
        return "at least one of endpoint, model, tool, agent_strategy, or datasource must be provided"
    if "model" in present and present & set(["datasource", "tool", "endpoint", "agent_strategy"]):
        return "model and datasource, tool, endpoint, or agent_strategy cannot be provided at the same time"
    if "agent_strategy" in present and present & set(["tool", "model", "endpoint", "datasource"]):
        return "agent_strategy and tool, model, endpoint, or datasource cannot be provided at the same time"
    if "datasource" in present and present & set(["tool", "model", "endpoint", "agent_strategy"]):
        return "datasource and tool, model, endpoint, or agent_strategy cannot be provided at the same time"
    return None


def _package_checksum(files):
    """real-daemon.md §7: sha256 over sorted (sha256(path) + sha256(content)).

    The daemon reads every zip entry for it, so a directory entry fails it: ``read
    _assets: is a directory`` for the first one (s23, both releases).
    """
    directories = getattr(files, "directories", ())
    if directories:
        raise _PkgError("read %s: is a directory" % directories[0].rstrip("/"))
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(hashlib.sha256(path.encode("utf-8")).digest())
        digest.update(hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def _make_identifier(decl, checksum):
    plugin_id = decl["name"] if not decl["author"] else decl["author"] + "/" + decl["name"]
    identifier = "%s:%s@%s" % (plugin_id, decl["version"], checksum)
    if not IDENTIFIER_RE.match(identifier):
        raise _PkgError("plugin_unique_identifier is not valid: %s" % identifier)
    return identifier


def _asset_id(name, content):
    return hashlib.sha256(content + name.encode("utf-8")).hexdigest() + os.path.splitext(name)[1]


def _remap_assets(decl, files):
    """Replace icon file names by asset ids; returns (new declaration, {asset_id: bytes})."""
    assets = dict((p[len("_assets/"):], files[p]) for p in files if p.startswith("_assets/"))
    stored = {}
    remapped = json.loads(json.dumps(decl))

    def remap(name, what):
        if name not in assets:
            raise _PkgError("file not found: %s\nfailed to remap %s\nfailed to remap assets" % (name, what))
        asset = _asset_id(name, assets[name])
        stored[asset] = assets[name]
        return asset

    model = remapped.get("model")
    if isinstance(model, dict):
        for field, what in (("icon_small", "model icon small"), ("icon_large", "model icon large"),
                            ("icon_small_dark", "model icon small dark"), ("icon_large_dark", "model icon large dark")):
            icons = model.get(field)
            if isinstance(icons, dict):
                for lang in ("en_US", "zh_Hans", "ja_JP", "pt_BR"):
                    if icons.get(lang):
                        icons[lang] = remap(icons[lang], "%s %s" % (what, lang))
    for section, what in (("tool", "tool icon"), ("agent_strategy", "agent icon")):
        identity = remapped.get(section, {}).get("identity") if isinstance(remapped.get(section), dict) else None
        if isinstance(identity, dict):
            if identity.get("icon"):
                identity["icon"] = remap(identity["icon"], what)
            if identity.get("icon_dark"):
                identity["icon_dark"] = remap(identity["icon_dark"], what + " dark")
    if remapped["icon"]:
        remapped["icon"] = remap(remapped["icon"], "plugin icon")
    if remapped["icon_dark"]:
        remapped["icon_dark"] = remap(remapped["icon_dark"], "plugin dark icon")
    return remapped, stored


def _read_zip(fileobj, limit=None):
    """Read every file entry of a .difypkg (directory entries are skipped)."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        raise _PkgError("difypkg: not a valid difypkg file")
    with archive:
        infos = [i for i in archive.infolist() if not i.filename.endswith("/")]
        if limit is not None:
            total = 0
            for info in archive.infolist():
                total += info.file_size
                if total > limit:
                    raise _PkgError("plugin package size is too large, please ensure the uncompressed "
                                    "size is less than %d bytes" % limit)
        files = _Files()
        files.directories = [i.filename for i in archive.infolist() if i.filename.endswith("/")]
        for info in infos:
            try:
                files[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
                raise _PkgError("difypkg: checksum error")
    return files


class _Package(object):
    """A decoded, stored package (what the daemon keeps after upload)."""

    def __init__(self, identifier, files, original, persisted, assets, verification):
        self.identifier = identifier
        self.files = files
        self.original = original          # manifest with in-package icon names
        self.persisted = persisted        # manifest with asset-id icons
        self.assets = assets
        self.verification = verification

    @property
    def plugin_id(self):
        return self.identifier.split(":", 1)[0]

    @property
    def version(self):
        return self.identifier.split(":", 1)[1].split("@", 1)[0]

    @property
    def checksum(self):
        return self.identifier.rsplit("@", 1)[1]

    @property
    def verified(self):
        return self.persisted["verified"]

    def readmes(self):
        """{language: text}; raises _PkgError when README.md is missing."""
        if "README.md" not in self.files:
            raise _PkgError("open README.md: file does not exist\nen_US readme not found")
        out = {"en_US": self.files["README.md"].decode("utf-8", "replace")}
        for path in sorted(self.files):
            if path.startswith("readme/"):
                match = README_LANG_RE.match(path[len("readme/"):])
                if match:
                    out[match.group(1)] = self.files[path].decode("utf-8", "replace")
        return out


def _prepare_package(files, original, identifier, signed, verify=False):
    """PreparePackage (manifest validation, verification), then PersistPackage's asset remapping.

    With ``verify``, an unsigned package is refused before its assets are looked at
    (:data:`BAD_SIGNATURE`, raised as a -400 error).  A remapping failure is a
    :class:`_PersistError`.
    """
    problem = _manifest_validate(original)
    if problem:
        raise _PkgError(problem + "\nillegal plugin manifest")
    category = signed.get(identifier)
    if verify and category is None:
        raise _bad_request(BAD_SIGNATURE)
    try:
        persisted, assets = _remap_assets(original, files)
    except _PkgError as exc:
        raise _PersistError(str(exc))
    verification = None
    if category is not None:
        verification = {"authorized_category": category}
        persisted["verified"] = True
        original = dict(original, verified=True)
    return _Package(identifier, files, original, persisted, assets, verification)


def _is_remote_like(identifier):
    author = identifier.split("/", 1)[0] if "/" in identifier.split(":", 1)[0] else ""
    try:
        uuid.UUID(author)
        return len(author) == 36
    except ValueError:
        return False


def package_identifier(data):
    """The unique identifier the daemon computes for package bytes (``author/name:version@checksum``)."""
    files = _read_zip(io.BytesIO(data))
    return _make_identifier(_parse_declaration(files), _package_checksum(files))


# --------------------------------------------------------------------------
# Upload pipelines (daemon-api.md §6.1 and §6.2)
# --------------------------------------------------------------------------


def _decode_upload(fileobj, limit, signed, verify=False):
    """The single-package upload pipeline (daemon-api.md §6.1)."""
    try:
        files = _read_zip(fileobj, limit)
        original = _parse_declaration(files)
        identifier = _make_identifier(original, _package_checksum(files))
    except _PkgError as exc:
        raise _bad_request(str(exc))
    if _is_remote_like(identifier):
        raise _bad_request("cannot set author to an UUID")
    try:
        return _prepare_package(files, original, identifier, signed, verify)
    except _PersistError as exc:
        raise _bad_request("%s\nfailed to save package" % exc)
    except _PkgError as exc:
        raise _bad_request("%s\nfailed to decode package" % exc)


def _bundle_dependency(dependency, bundle, verify, signed):
    kind = dependency.get("type")
    value = _as_dict(dependency.get("value"))
    if kind == "github":
        parts = _pattern_parts(value.get("repo_pattern"))
        ok = len(parts) >= 3
        return {"type": "github", "value": {
            "packages": parts[3] if len(parts) >= 4 else "",
            "release": parts[2] if ok else "",
            "repo": "%s/%s" % (parts[0], parts[1]) if ok else "",
            "repo_address": "https://github.com/%s/%s" % (parts[0], parts[1]) if ok else "",
        }}
    if kind == "marketplace":
        parts = _pattern_parts(value.get("marketplace_pattern"))
        return {"type": "marketplace", "value": {
            "organization": parts[0] if len(parts) >= 1 else "",
            "plugin": parts[1] if len(parts) >= 2 else "",
            "version": parts[2] if len(parts) >= 3 else "",
        }}
    if kind != "package":
        return None
    data = bundle.asset(_as_str(value.get("path")))
    if data is None:
        raise _internal("failed to fetch package from bundle\nasset not found")
    try:
        files = _read_zip(io.BytesIO(data))
        original = _parse_declaration(files)
    except _PkgError as exc:
        raise _bad_request("failed to create package decoder\n%s" % exc)
    try:
        identifier = _make_identifier(original, _package_checksum(files))
    except _PkgError as exc:
        raise _bad_request("failed to get package unique identifier\n%s" % exc)
    try:
        package = _prepare_package(files, original, identifier, signed, verify)
    except _PersistError as exc:   # the daemon stores a bundle's packages after checking them all
        raise _internal("failed to save package\n%s" % exc)
    except _PkgError as exc:
        raise _internal("failed to decode package\n%s" % exc)
    if original["author"] == "langgenius" and (
            package.verification is None or package.verification.get("authorized_category") != "langgenius"):
        raise _bad_request(UNAUTHORIZED_LANGGENIUS)
    return package


def _pattern_parts(pattern):
    parts = []
    for piece in _as_str(pattern).split(":"):
        parts.extend(piece.split("/"))
    return parts


class _Bundle(object):
    """An uploaded bundle: manifest.yaml plus package files under ``_assets/``.

    Assets are read on demand, so a large bundle never sits in memory whole.
    """

    def __init__(self, fileobj):
        try:
            self._archive = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError):
            raise _bad_request("zip: not a valid zip file\nfailed to decode bundle")
        names = set(self._archive.namelist())
        if "manifest.yaml" not in names:
            self._archive.close()
            raise _bad_request("open manifest.yaml: file does not exist\nfailed to decode bundle")
        try:
            self.manifest = _yaml_load(self._archive.read("manifest.yaml"), "bundle_entities.Bundle")
        except _PkgError as exc:
            self._archive.close()
            raise _bad_request("%s\nfailed to decode bundle" % exc)
        self._names = names

    def asset(self, path):
        """Bytes of ``_assets/<path>``, or None."""
        name = "_assets/" + path
        if not path or name not in self._names or name.endswith("/"):
            return None
        return self._archive.read(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._archive.close()
