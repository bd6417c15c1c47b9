"""Parameter casting by declaration: every rule, and errors that name what is wrong."""

import pytest

import dify_plugin_client as dpc


def _param(name, type_, **kwargs):
    data = {"name": name, "type": type_}
    data.update(kwargs)
    return data


def _tool(*parameters):
    return dpc.ToolDeclaration.from_dict({"identity": {"name": "t"},
                                          "parameters": list(parameters)})


def _cast(parameters, *declared):
    return dpc._cast_parameters(_tool(*declared), parameters, "tool 't'")


def _problems(parameters, *declared):
    with pytest.raises(dpc.ToolParameterError) as info:
        _cast(parameters, *declared)
    return info.value


@pytest.mark.parametrize("type_", ["string", "secret-input", "text-input"])
@pytest.mark.parametrize("value,expected", [
    ("x", "x"), ("", ""), (3, "3"), (1.5, "1.5"), (True, "true"), (False, "false"),
    ({"a": 1}, '{"a": 1}'), ([1, "é"], '[1, "é"]'),
])
def test_text_types(type_, value, expected):
    assert _cast({"p": value}, _param("p", type_)) == {"p": expected}


def test_text_rejects_other_objects():
    error = _problems({"p": b"bytes"}, _param("p", "string"))
    assert error.problems == [("p", b"bytes", "a string")]


@pytest.mark.parametrize("value,expected", [
    (3, 3), (1.5, 1.5), ("3", 3), ("1.5", 1.5), (" 7 ", 7), ("-2", -2), ("1e3", 1000.0),
    (".5", 0.5), (0, 0),
])
def test_number(value, expected):
    result = _cast({"n": value}, _param("n", "number"))["n"]
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("value", [True, "abc", "", "1,5", [1], {"a": 1}, "nan",
                                   float("inf"), "0x10"])
def test_number_rejects(value):
    error = _problems({"n": value}, _param("n", "number"))
    assert error.problems[0][0] == "n" and "number" in error.problems[0][2]
    assert "'n'" in str(error)


def test_number_bounds():
    declared = _param("n", "number", min=1, max=10)
    assert _cast({"n": "10"}, declared) == {"n": 10}
    assert "<= 10" in _problems({"n": 11}, declared).problems[0][2]
    assert ">= 1" in _problems({"n": "0"}, declared).problems[0][2]


@pytest.mark.parametrize("type_", ["boolean", "checkbox"])
@pytest.mark.parametrize("value,expected", [
    (True, True), (False, False), ("true", True), ("FALSE", False), ("Yes", True), ("no", False),
    ("y", True), ("N", False), ("on", True), ("OFF", False), ("1", True), ("0", False),
    (1, True), (0, False),
])
def test_boolean(type_, value, expected):
    assert _cast({"b": value}, _param("b", type_)) == {"b": expected}


@pytest.mark.parametrize("value", ["abc", "", 2, -1, 1.0, [], {}])
def test_boolean_rejects(value):
    error = _problems({"b": value}, _param("b", "boolean"))
    assert "boolean" in error.problems[0][2]


OPTIONS = [{"value": "a", "label": {"en_US": "A"}}, {"value": "1", "label": {"en_US": "One"}}]


def test_select():
    declared = _param("s", "select", options=OPTIONS)
    assert _cast({"s": "a"}, declared) == {"s": "a"}
    assert _cast({"s": 1}, declared) == {"s": "1"}
    error = _problems({"s": "z"}, declared)
    assert error.problems == [("s", "z", "one of 'a', '1'")]
    multiple = _param("s", "select", options=OPTIONS, multiple=True)
    assert _cast({"s": ["a", "1"]}, multiple) == {"s": ["a", "1"]}
    assert _cast({"s": "a"}, multiple) == {"s": ["a"]}
    assert _problems({"s": ["a", "q"]}, multiple).problems[0][0] == "s"
    assert _cast({"s": "anything"}, _param("s", "select")) == {"s": "anything"}


def test_file_and_files_and_array():
    f = {"dify_model_identity": "__dify__file__", "url": "http://x/f"}
    assert _cast({"f": f}, _param("f", "file")) == {"f": f}
    assert _cast({"f": [f]}, _param("f", "file")) == {"f": f}
    assert "one file" in _problems({"f": [f, f]}, _param("f", "file")).problems[0][2]
    assert "one file" in _problems({"f": []}, _param("f", "file")).problems[0][2]
    assert "file object" in _problems({"f": "x"}, _param("f", "file")).problems[0][2]
    assert _cast({"fs": f}, _param("fs", "files")) == {"fs": [f]}
    assert _cast({"fs": [f, f]}, _param("fs", "files")) == {"fs": [f, f]}
    assert _cast({"a": 1}, _param("a", "array")) == {"a": [1]}
    assert _cast({"a": "[1, 2]"}, _param("a", "array")) == {"a": [1, 2]}
    assert _cast({"a": "plain"}, _param("a", "array")) == {"a": ["plain"]}


def test_object():
    assert _cast({"o": {"a": 1}}, _param("o", "object")) == {"o": {"a": 1}}
    assert _cast({"o": '{"a": 1}'}, _param("o", "object")) == {"o": {"a": 1}}
    for bad in ("[1]", "nope", 3, [{"a": 1}]):
        assert "object" in _problems({"o": bad}, _param("o", "object")).problems[0][2]


@pytest.mark.parametrize("type_", ["any", "app-selector", "model-selector", "dynamic-select",
                                   "date", "date-range", "future-type"])
def test_other_types_pass_through(type_):
    value = {"keep": ["as", "is"]}
    assert _cast({"p": value}, _param("p", type_)) == {"p": value}


def test_defaults_required_and_undeclared():
    declared = [_param("q", "string", required=True), _param("r", "string", required=True),
                _param("n", "number", default="5"), _param("o", "string"),
                _param("d", "boolean", required=True, default=False)]
    error = _problems({"extra": object}, *declared)
    assert "missing required: 'q', 'r'" in str(error)
    assert [p[0] for p in error.problems] == ["q", "r"]
    result = _cast({"q": "x", "r": "y", "extra": [1]}, *declared)
    assert result == {"q": "x", "r": "y", "n": 5, "d": False, "extra": [1]}


def test_all_problems_reported_at_once_and_input_untouched():
    declared = [_param("a", "number"), _param("b", "boolean"), _param("c", "string",
                                                                      required=True)]
    given = {"a": "x", "b": "maybe"}
    error = _problems(given, *declared)
    assert [p[0] for p in error.problems] == ["a", "b", "c"]
    assert "'a' = 'x' (expected a number)" in str(error)
    assert given == {"a": "x", "b": "maybe"}
    assert isinstance(error, dpc.InvalidArgumentError) and isinstance(error, ValueError)


def test_provider_id_forms():
    assert dpc._parse_provider_id("acme/search/search") == ("acme/search", "search")
    assert dpc._parse_provider_id("acme/search/WebSearch") == ("acme/search", "WebSearch")
    assert dpc._parse_provider_id("google") == ("langgenius/google", "google")
    assert dpc._parse_provider_id("jina", aliases=True) == ("langgenius/jina_tool", "jina")
    assert dpc._parse_provider_id("langgenius/jina/jina") == ("langgenius/jina", "jina")
    for bad in ("", "acme/search", "a/b/c/d", "Acme/x/y", "acme/x/y\n", "../x/y", "a b", None):
        with pytest.raises(dpc.InvalidArgumentError) as info:
            dpc._parse_provider_id(bad)
        assert "organization/plugin_name/provider_name" in str(info.value)


def test_a_secret_input_value_stays_out_of_the_error():
    error = _problems({"key": b"sk-secret-bytes-123", "n": "x"},
                      _param("key", "secret-input"), _param("n", "number"))
    assert "sk-secret" not in str(error) and "sk-secret" not in repr(error.problems)
    assert "'key' = a hidden bytes (expected a string)" in str(error)
    assert error.problems[0] == ("key", None, "a string")
    assert error.problems[1][:2] == ("n", "x")  # other values are still shown
