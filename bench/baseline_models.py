"""The baseline: pydantic v2 models of the same entities, used the way Dify's API does.

Dify's daemon client (api/core/plugin/impl/base.py) sends requests with a pooled
``httpx.Client``, parses ``response.json()`` and validates it with
``PluginDaemonBasicResponse[T].model_validate(...)``; for streams it iterates
``response.iter_lines()``, strips the ``data:`` prefix and calls
``PluginDaemonBasicResponse[ToolInvokeMessage].model_validate_json(line)``, where
``ToolInvokeMessage.message`` is a union of message models with a ``mode="before"``
validator that base64-decodes blobs and wraps bare JSON.  Blob chunks are then
merged into a pre-sized bytearray per blob id.

The models below are written for this benchmark from dify_plugin_client's own
entity definitions (same fields, same nesting), in that style.  Only the
benchmark imports them; the client module never does.
"""

import base64
import contextlib
import copy
import datetime
import decimal
import enum
from typing import Any, Dict, Generic, List, Optional, TypeVar, Union

try:
    from typing import Annotated, Literal
except ImportError:  # Python 3.8
    from typing_extensions import Annotated, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

T = TypeVar("T")


class PluginDaemonBasicResponse(BaseModel, Generic[T]):
    code: int
    message: str
    data: Optional[T] = None


# --- plugins and tool providers ---------------------------------------------------


class I18nObject(BaseModel):
    en_US: str = ""
    zh_Hans: Optional[str] = None
    ja_JP: Optional[str] = None
    pt_BR: Optional[str] = None


class PluginPermissions(BaseModel):
    tool: Optional[dict] = None
    model: Optional[dict] = None
    node: Optional[dict] = None
    endpoint: Optional[dict] = None
    app: Optional[dict] = None
    storage: Optional[dict] = None


class PluginResourceRequirements(BaseModel):
    memory: int = 0
    permission: Optional[PluginPermissions] = None


class PluginExtensions(BaseModel):
    tools: Optional[List[str]] = Field(default_factory=list)
    models: Optional[List[str]] = Field(default_factory=list)
    endpoints: Optional[List[str]] = Field(default_factory=list)
    agent_strategies: Optional[List[str]] = Field(default_factory=list)
    datasources: Optional[List[str]] = Field(default_factory=list)
    triggers: Optional[List[str]] = Field(default_factory=list)


class PluginRunner(BaseModel):
    language: str = ""
    version: str = ""
    entrypoint: str = ""


class PluginMeta(BaseModel):
    version: str = ""
    arch: List[str] = Field(default_factory=list)
    runner: Optional[PluginRunner] = None
    minimum_dify_version: Optional[str] = None


class ToolProviderIdentity(BaseModel):
    name: str
    author: str = ""
    label: Optional[I18nObject] = None
    description: Optional[I18nObject] = None
    icon: str = ""
    icon_dark: Optional[str] = ""
    tags: Optional[List[str]] = Field(default_factory=list)


class ProviderConfigOption(BaseModel):
    value: Any = ""
    label: Optional[I18nObject] = None


class ProviderConfig(BaseModel):
    name: str
    type: str = ""
    scope: Optional[str] = None
    required: bool = False
    default: Union[int, float, str, bool, None] = None
    options: Optional[List[ProviderConfigOption]] = None
    multiple: bool = False
    label: Optional[I18nObject] = None
    help: Optional[I18nObject] = None
    url: Optional[str] = None
    placeholder: Optional[I18nObject] = None


class ToolOAuthSchema(BaseModel):
    client_schema: List[ProviderConfig] = Field(default_factory=list)
    credentials_schema: List[ProviderConfig] = Field(default_factory=list)


class ToolParameterOption(BaseModel):
    value: str = ""
    label: Optional[I18nObject] = None
    icon: Optional[str] = ""

    @field_validator("value", mode="before")
    @classmethod
    def transform_id_to_str(cls, value):
        return value if isinstance(value, str) else str(value)


class ToolParameter(BaseModel):
    name: str
    type: str
    label: Optional[I18nObject] = None
    human_description: Optional[I18nObject] = None
    scope: Optional[str] = None
    form: str = "llm"
    llm_description: Optional[str] = ""
    required: Optional[bool] = False
    auto_generate: Optional[dict] = None
    template: Optional[dict] = None
    default: Union[float, int, str, bool, list, dict, None] = None
    min: Union[float, int, None] = None
    max: Union[float, int, None] = None
    multiple: bool = False
    precision: Optional[int] = None
    options: Optional[List[ToolParameterOption]] = None
    placeholder: Optional[I18nObject] = None
    input_schema: Optional[dict] = None


class ToolIdentity(BaseModel):
    name: str
    author: str = ""
    label: Optional[I18nObject] = None
    provider: str = ""
    icon: Optional[str] = None


class ToolDescription(BaseModel):
    human: Optional[I18nObject] = None
    llm: str = ""


class ToolDeclaration(BaseModel):
    identity: ToolIdentity
    description: Optional[ToolDescription] = None
    parameters: Optional[List[ToolParameter]] = Field(default_factory=list)
    output_schema: Optional[dict] = None
    has_runtime_parameters: bool = False


class ToolProviderDeclaration(BaseModel):
    identity: ToolProviderIdentity
    credentials_schema: Optional[List[ProviderConfig]] = Field(default_factory=list)
    oauth_schema: Optional[ToolOAuthSchema] = None
    tools: Optional[List[ToolDeclaration]] = Field(default_factory=list)


class PluginDeclaration(BaseModel):
    name: str
    version: str
    author: str = ""
    type: str = "plugin"
    label: Optional[I18nObject] = None
    description: Optional[I18nObject] = None
    icon: str = ""
    icon_dark: Optional[str] = ""
    resource: Optional[PluginResourceRequirements] = None
    plugins: Optional[PluginExtensions] = None
    meta: Optional[PluginMeta] = None
    tags: Optional[List[str]] = Field(default_factory=list)
    created_at: Optional[datetime.datetime] = None
    privacy: Optional[str] = None
    repo: Optional[str] = None
    verified: bool = False
    tool: Optional[ToolProviderDeclaration] = None
    model: Optional[dict] = None
    endpoint: Optional[dict] = None
    agent_strategy: Optional[dict] = None
    datasource: Optional[dict] = None
    trigger: Optional[dict] = None


class PluginInstallationSource(enum.Enum):
    Github = "github"
    Marketplace = "marketplace"
    Package = "package"
    Remote = "remote"


class PluginInstallation(BaseModel):
    id: str
    plugin_id: str
    plugin_unique_identifier: str
    tenant_id: str = ""
    version: str = ""
    checksum: str = ""
    runtime_type: str = ""
    source: Optional[PluginInstallationSource] = None
    meta: Optional[dict] = Field(default_factory=dict)
    endpoints_setups: int = 0
    endpoints_active: int = 0
    declaration: Optional[PluginDeclaration] = None
    created_at: Optional[datetime.datetime] = None
    updated_at: Optional[datetime.datetime] = None


class PluginEntity(PluginInstallation):
    name: str = ""
    installation_id: str = ""


class PluginListResponse(BaseModel):
    list: List[PluginEntity]
    total: int


class PluginDecodeResponse(BaseModel):
    unique_identifier: str
    manifest: PluginDeclaration
    verification: Optional[dict] = None


class PluginToolProviderEntity(BaseModel):
    provider: str
    plugin_id: str
    plugin_unique_identifier: str = ""
    declaration: Optional[ToolProviderDeclaration] = None
    id: Optional[str] = None
    tenant_id: Optional[str] = None
    created_at: Optional[datetime.datetime] = None
    updated_at: Optional[datetime.datetime] = None


# --- tool invoke messages ---------------------------------------------------------


class ToolInvokeMessage(BaseModel):
    class TextMessage(BaseModel):
        text: str

    class JsonMessage(BaseModel):
        json_object: Union[dict, list]
        suppress_output: bool = False

    class BlobMessage(BaseModel):
        blob: bytes

    class BlobChunkMessage(BaseModel):
        id: str
        sequence: int
        total_length: int
        blob: bytes
        end: bool

    class FileMessage(BaseModel):
        file_marker: str = "file_marker"

    class VariableMessage(BaseModel):
        variable_name: str
        variable_value: Any
        stream: bool = False

    class LogMessage(BaseModel):
        id: str
        label: str
        parent_id: Optional[str] = None
        error: Optional[str] = None
        status: str
        data: Dict[str, Any]
        metadata: Optional[Dict[str, Any]] = None

    class RetrieverResourceMessage(BaseModel):
        retriever_resources: List[dict]
        context: str

    class MessageType(str, enum.Enum):
        TEXT = "text"
        IMAGE = "image"
        LINK = "link"
        BLOB = "blob"
        JSON = "json"
        IMAGE_LINK = "image_link"
        BINARY_LINK = "binary_link"
        VARIABLE = "variable"
        FILE = "file"
        LOG = "log"
        BLOB_CHUNK = "blob_chunk"
        RETRIEVER_RESOURCES = "retriever_resources"

    type: MessageType = MessageType.TEXT
    message: Union[JsonMessage, TextMessage, BlobChunkMessage, BlobMessage, LogMessage,
                   FileMessage, None, VariableMessage, RetrieverResourceMessage]
    meta: Optional[Dict[str, Any]] = None

    @field_validator("message", mode="before")
    @classmethod
    def decode_blob_message(cls, v, info: ValidationInfo):
        if isinstance(v, dict) and "blob" in v:
            with contextlib.suppress(Exception):
                v["blob"] = base64.b64decode(v["blob"])
        if info.data and isinstance(v, dict):
            kind = info.data.get("type")
            if kind == cls.MessageType.JSON and "json_object" not in v:
                v = {"json_object": v}
            elif kind == cls.MessageType.FILE:
                v = {"file_marker": "file_marker"}
        return v



# --- model answers (LLM chunks, embeddings, TTS and speech-to-text results) ----------
#
# Dify's api/core/model_runtime/entities (llm_entities, message_entities,
# text_embedding_entities) and core/plugin/entities/plugin_daemon.py, with the fields of
# dify_plugin_client's own model entities. Prices are Decimal, as in Dify.


class PromptMessageRole(str, enum.Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    DEVELOPER = "developer"


class TextPromptMessageContent(BaseModel):
    type: Literal["text"] = "text"
    data: str
    opaque_body: Any = None


class MultiModalPromptMessageContent(BaseModel):
    format: str = ""
    base64_data: str = ""
    url: str = ""
    mime_type: str = ""
    filename: str = ""
    opaque_body: Any = None


class ImagePromptMessageContent(MultiModalPromptMessageContent):
    type: Literal["image"] = "image"
    detail: Optional[str] = None


class AudioPromptMessageContent(MultiModalPromptMessageContent):
    type: Literal["audio"] = "audio"


class VideoPromptMessageContent(MultiModalPromptMessageContent):
    type: Literal["video"] = "video"


class DocumentPromptMessageContent(MultiModalPromptMessageContent):
    type: Literal["document"] = "document"


PromptMessageContentUnion = Annotated[
    Union[TextPromptMessageContent, ImagePromptMessageContent, AudioPromptMessageContent,
          VideoPromptMessageContent, DocumentPromptMessageContent],
    Field(discriminator="type")]


class AssistantToolCallFunction(BaseModel):
    name: str = ""
    arguments: str = ""


class AssistantToolCall(BaseModel):
    id: str = ""
    type: str = "function"
    function: Optional[AssistantToolCallFunction] = None


class AssistantPromptMessage(BaseModel):
    role: PromptMessageRole = PromptMessageRole.ASSISTANT
    content: Union[str, List[PromptMessageContentUnion], None] = None
    name: Optional[str] = None
    tool_calls: List[AssistantToolCall] = Field(default_factory=list)
    opaque_body: Any = None


class LLMUsage(BaseModel):
    prompt_tokens: int = 0
    prompt_unit_price: decimal.Decimal
    prompt_price_unit: decimal.Decimal
    prompt_price: decimal.Decimal
    completion_tokens: int = 0
    completion_unit_price: decimal.Decimal
    completion_price_unit: decimal.Decimal
    completion_price: decimal.Decimal
    total_tokens: int = 0
    total_price: decimal.Decimal
    currency: str = ""
    latency: float = 0.0


class LLMResultChunkDelta(BaseModel):
    index: int = 0
    message: AssistantPromptMessage
    usage: Optional[LLMUsage] = None
    finish_reason: Optional[str] = None


class LLMResultChunk(BaseModel):
    model: str = ""
    system_fingerprint: Optional[str] = None
    delta: LLMResultChunkDelta
    prompt_messages: List[dict] = Field(default_factory=list)

    @field_validator("prompt_messages", mode="before")
    @classmethod
    def always_empty(cls, value):  # as Dify does: the field is deprecated
        return []


class EmbeddingUsage(BaseModel):
    tokens: int = 0
    total_tokens: int = 0
    unit_price: decimal.Decimal
    price_unit: decimal.Decimal
    total_price: decimal.Decimal
    currency: str = ""
    latency: float = 0.0


class EmbeddingResult(BaseModel):
    model: str = ""
    embeddings: List[List[float]]
    usage: Optional[EmbeddingUsage] = None


class PluginStringResultResponse(BaseModel):
    """TTS pieces (``result`` is hex) and speech-to-text text."""

    result: str
    mime_type: Optional[str] = None


class _FileChunk:
    __slots__ = ("total_length", "written", "data")

    def __init__(self, total_length):
        self.total_length = total_length
        self.written = 0
        self.data = bytearray(total_length)


def merge_blob_chunks(messages, max_file_size=30 * 1024 * 1024, max_chunk_size=8192):
    """Blob chunks merged into one blob message per id, in a pre-sized buffer."""
    files = {}
    chunk_type = ToolInvokeMessage.MessageType.BLOB_CHUNK
    for message in messages:
        if message.type != chunk_type:
            yield message
            continue
        chunk = message.message
        if len(chunk.blob) > max_chunk_size:
            raise ValueError("chunk too large")
        entry = files.get(chunk.id)
        if entry is None:
            if chunk.total_length > max_file_size:
                raise ValueError("file too large")
            entry = files[chunk.id] = _FileChunk(chunk.total_length)
        if chunk.end:
            data = bytes(entry.data[:entry.written])
            del files[chunk.id]
            yield ToolInvokeMessage(type=ToolInvokeMessage.MessageType.BLOB,
                                    message=ToolInvokeMessage.BlobMessage(blob=data),
                                    meta=message.meta)
        else:
            entry.data[entry.written:entry.written + len(chunk.blob)] = chunk.blob
            entry.written += len(chunk.blob)
            if entry.written > entry.total_length:
                raise ValueError("chunk overflow")


# --- $ref resolution: deepcopy + breadth-first replacement ---------------------------


def deepcopy_resolve_refs(schema, registry, max_depth=64):
    """Inline local ("#/...") and registry refs: deepcopy the document, then walk it
    breadth first and replace each {"$ref"} by a deep copy of its target (merged with
    the sibling keys), cycle-guarded by the chain of refs that led there.  This is
    the usual shape of a schema resolver (Dify's core/schemas/resolver.py is a BFS
    over a deepcopy too)."""
    from collections import deque
    from urllib.parse import unquote

    root = copy.deepcopy(schema)

    def target_of(ref, document):
        uri, _, fragment = ref.partition("#")
        base = registry.get(uri) if uri else document
        if base is None:
            return None
        node = base
        pointer = unquote(fragment)
        if pointer:
            for token in pointer[1:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and token in node:
                    node = node[token]
                elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                    node = node[int(token)]
                else:
                    return None
        return node

    queue = deque([(root, None, None, (), 0)])
    while queue:
        node, parent, key, chain, depth = queue.popleft()
        if depth > max_depth:
            continue
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and parent is not None:
                if ref in chain:
                    node["$circular_ref"] = True
                    continue
                target = target_of(ref, schema)
                if target is None:
                    continue
                resolved = copy.deepcopy(target)
                if isinstance(resolved, dict):
                    siblings = {k: v for k, v in node.items() if k != "$ref"}
                    resolved.update(siblings)
                parent[key] = resolved
                queue.append((resolved, parent, key, chain + (ref,), depth + 1))
                continue
            for name, value in node.items():
                if name in ("enum", "const", "default", "examples", "example"):
                    continue
                if isinstance(value, (dict, list)):
                    queue.append((value, node, name, chain, depth + 1))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    queue.append((value, node, index, chain, depth + 1))
    return root
