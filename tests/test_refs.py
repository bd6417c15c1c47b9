"""The $ref resolver: local pointers, Dify's registry, siblings, cycles, depth, no mutation."""

import copy
import json

import dify_plugin_client as dpc

FILE_URI = "https://dify.ai/schemas/v1/file.json"


def _resolve(schema, **kwargs):
    before = copy.deepcopy(schema)
    result = dpc._resolve_refs(schema, **kwargs)
    assert schema == before  # the caller's input is never modified
    return result


def test_local_defs_and_definitions_and_nesting():
    schema = {"$defs": {"name": {"type": "string"},
                        "person": {"type": "object",
                                   "properties": {"name": {"$ref": "#/$defs/name"}}}},
              "definitions": {"id": {"type": "integer"}},
              "type": "array",
              "items": {"$ref": "#/$defs/person"},
              "properties": {"id": {"$ref": "#/definitions/id"}}}
    result = _resolve(schema)
    assert result["items"] == {"type": "object", "properties": {"name": {"type": "string"}}}
    assert result["properties"]["id"] == {"type": "integer"}


def test_pointer_escapes_and_percent_encoding_and_arrays():
    schema = {"$defs": {"a/b": {"const": 1}, "m~n": {"const": 2}, "sp ace": {"const": 3},
                        "list": [{"const": 4}, {"const": 5}], "": {"const": 6}},
              "p": [{"$ref": "#/$defs/a~1b"}, {"$ref": "#/$defs/m~0n"},
                    {"$ref": "#/$defs/sp%20ace"}, {"$ref": "#/$defs/list/1"},
                    {"$ref": "#/$defs/"},
                    {"$ref": "#/$defs/list/01"}, {"$ref": "#/$defs/list/+1"},
                    {"$ref": "#/$defs/m~2n"}, {"$ref": "#/$defs/list/2"}]}
    result = _resolve(schema)["p"]
    assert [item.get("const") for item in result[:5]] == [1, 2, 3, 5, 6]
    # invalid array indexes, a bad escape and out of range stay unresolved
    assert [item.get("$ref") for item in result[5:]] == [
        "#/$defs/list/01", "#/$defs/list/+1", "#/$defs/m~2n", "#/$defs/list/2"]


def test_root_ref_is_a_cycle():
    schema = {"type": "object", "properties": {"self": {"$ref": "#"}}}
    result = _resolve(schema)
    inner = result["properties"]["self"]
    assert inner["properties"]["self"] == {"$ref": "#", "$circular_ref": True}


def test_dify_registry_refs_without_network():
    schema = {"type": "object", "properties": {
        "file": {"$ref": FILE_URI},
        "files": {"type": "array", "items": {"$ref": FILE_URI}},
        "name": {"$ref": FILE_URI + "#/properties/name"},
        "qa": {"$ref": "https://dify.ai/schemas/v1/qa_structure.json"},
        "unknown": {"$ref": "https://dify.ai/schemas/v1/nothing.json"},
        "elsewhere": {"$ref": "https://example.com/schema.json"},
        "relative": {"$ref": "other.json#/x"}}}
    result = _resolve(schema)["properties"]
    assert result["file"]["title"] == "File" and result["file"]["required"] == ["name"]
    assert "$id" not in result["file"] and "$schema" not in result["file"]
    assert result["files"]["items"]["properties"]["size"]["type"] == "number"
    assert result["name"] == {"type": "string", "description": "file name"}
    assert result["qa"]["properties"]["qa_chunks"]["items"]["required"] == ["question", "answer"]
    for key in ("unknown", "elsewhere", "relative"):
        assert result[key] == schema["properties"][key]


def test_siblings_survive_and_local_keys_win():
    schema = {"$defs": {"t": {"type": "string", "description": "from def", "minLength": 1}},
              "x": {"$ref": "#/$defs/t", "description": "local", "title": "X"},
              "f": {"$ref": FILE_URI, "description": "the upload"}}
    result = _resolve(schema)
    assert result["x"] == {"type": "string", "description": "local", "minLength": 1,
                           "title": "X"}
    assert result["f"]["description"] == "the upload" and result["f"]["title"] == "File"


def test_cycles_end_with_a_mark():
    schema = {"$defs": {"node": {"type": "object", "properties": {
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}},
        "a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
        "root": {"$ref": "#/$defs/node"}, "loop": {"$ref": "#/$defs/a"}}
    result = _resolve(schema)
    # root expands node once; node's own reference back to node is the cycle
    assert result["root"]["properties"]["children"]["items"] == {"$ref": "#/$defs/node",
                                                                 "$circular_ref": True}
    assert result["loop"] == {"$ref": "#/$defs/a", "$circular_ref": True}
    json.dumps(result)  # no shared cycles in the output


def test_depth_is_bounded():
    deep = {"$ref": "#/$defs/d0"}
    defs = {"d%d" % i: {"type": "object", "properties": {"next": {"$ref": "#/$defs/d%d" % (i + 1)}}}
            for i in range(200)}
    result = _resolve({"$defs": defs, "root": deep}, max_depth=20)
    json.dumps(result)
    node, levels = result["root"], 0
    while "properties" in node:
        node = node["properties"]["next"]
        levels += 1
    assert node.get("$ref", "").startswith("#/$defs/d") and levels < 20


def test_data_keywords_and_property_names_are_not_refs():
    schema = {"$defs": {"s": {"type": "string"}},
              "properties": {"default": {"$ref": "#/$defs/s"}, "$ref": {"type": "number"}},
              "enum": [{"$ref": "#/$defs/s"}], "default": {"$ref": "#/$defs/s"},
              "examples": [{"$ref": "#/$defs/s"}]}
    result = _resolve(schema)
    assert result["properties"]["default"] == {"type": "string"}
    assert result["properties"]["$ref"] == {"type": "number"}
    assert result["enum"] == [{"$ref": "#/$defs/s"}]
    assert result["default"] == {"$ref": "#/$defs/s"}


def test_nested_id_scope_is_left_alone():
    schema = {"$defs": {"a": {"type": "string"}},
              "x": {"$id": "https://example.com/other", "y": {"$ref": "#/$defs/a"}}}
    assert _resolve(schema)["x"]["y"] == {"$ref": "#/$defs/a"}


def test_repeated_refs_do_not_alias():
    schema = {"$defs": {"t": {"type": "object", "properties": {"a": {"type": "string"}}}},
              "x": {"$ref": "#/$defs/t"}, "y": {"$ref": "#/$defs/t"}}
    result = _resolve(schema)
    assert result["x"] == result["y"] and result["x"] is not result["y"]
    result["x"]["properties"]["a"]["type"] = "changed"
    assert result["y"]["properties"]["a"]["type"] == "string"


def test_schema_without_refs_is_returned_unchanged():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert dpc._resolve_refs(schema) is schema
    assert dpc._resolve_refs(None) is None and dpc._resolve_refs({}) == {}
