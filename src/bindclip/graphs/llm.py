"""The OC-CLIP paper's kind of parser: an instruction-tuned LLM asked for the scene graph, behind any server
that speaks OpenAI's chat completions protocol (`vllm serve`, llama.cpp's `llama-server`, Ollama).

    parser = make_parser("llm:meta-llama/Llama-3.1-8B-Instruct@http://127.0.0.1:8000/v1", concurrency=32)

Each caption is one request: a system prompt, a few worked examples as earlier turns, the caption alone as
the last user message, and `response_format` asking for `GRAPH_SCHEMA` in the nested `json_schema` form
(vLLM, llama.cpp and Ollama's /v1 all read that one; llama.cpp ignores the flat form). `concurrency`
requests are in flight at once, from a thread pool over one httpx connection pool: httpx is the transport
the openai client is built on, and called directly it costs ~1 ms of CPU a request against the openai
client's ~3 ms (measured here at 32 in flight), which keeps a 2-core client ahead of a fast server.

Every answer is checked against the schema here, whatever the server promises: an unconstrained server, a
truncated answer or an index out of range all arrive as text. A request that fails (429, 5xx, a timeout)
or an answer that breaks the schema is asked again, up to `max_retries` times, with exponential backoff or
the server's Retry-After; a caption still without a valid answer gets the spaCy rules' graph, counted in
`fallbacks` by reason. What no retry can mend (no server at the address, an unknown model, a refused key
or request) stops the parse with one `LLMServerError` (a `SpecError` for the unknown model).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx

from ..errors import GraphFormatError, LLMServerError, SpecError
from .scene_graph import SceneGraph, SGObject, SGRelation

GRAPH_SCHEMA = {  # exactly what `bindclip parse` writes, less the caption
    "type": "object",
    "properties": {
        "objects": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "attributes": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["name", "attributes"],
                "additionalProperties": False,
            },
        },
        "relations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "subject": {"type": "integer", "minimum": 0},
                    "predicate": {"type": "string", "minLength": 1},
                    "object": {"type": "integer", "minimum": 0},
                },
                "required": ["subject", "predicate", "object"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["objects", "relations"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "scene_graph", "schema": GRAPH_SCHEMA, "strict": True},
}

SYSTEM_PROMPT = """You turn an image caption into its scene graph, written as JSON.
"objects": each physical thing the caption mentions, once, in the order it first appears. "name" is the noun \
in its singular base form with the words that make it a kind of thing ("traffic light"); "attributes" are the \
words that describe it in the caption's order: colours, sizes, materials, states, and a count as digits ("2"); \
[] when there are none.
"relations": how one object relates to another. "subject" and "object" are positions in "objects" (0 is the \
first); "predicate" is the relation as the caption says it, verbs in their base form ("on", "next to", "ride").
Leave out the picture itself ("a photo of ...") and words that name nothing visible. Answer with the JSON only."""

# Written for bindclip (not taken from FACTUAL-SG, SugarCrepe or COCO, so no benchmark caption is shown to
# the model): a count and colour, clothing as "wear", a caption frame left out, a graph without relations.
EXAMPLES = (
    (
        "two brown dogs chasing a red ball across the grass",
        {
            "objects": [
                {"name": "dog", "attributes": ["2", "brown"]},
                {"name": "ball", "attributes": ["red"]},
                {"name": "grass", "attributes": []},
            ],
            "relations": [
                {"subject": 0, "predicate": "chase", "object": 1},
                {"subject": 0, "predicate": "on", "object": 2},
            ],
        },
    ),
    (
        "A woman in a long blue coat holds an umbrella next to a parked taxi.",
        {
            "objects": [
                {"name": "woman", "attributes": []},
                {"name": "coat", "attributes": ["long", "blue"]},
                {"name": "umbrella", "attributes": []},
                {"name": "taxi", "attributes": ["parked"]},
            ],
            "relations": [
                {"subject": 0, "predicate": "wear", "object": 1},
                {"subject": 0, "predicate": "hold", "object": 2},
                {"subject": 0, "predicate": "next to", "object": 3},
            ],
        },
    ),
    (
        "a close-up photo of a white plate on top of a wooden table",
        {
            "objects": [{"name": "plate", "attributes": ["white"]}, {"name": "table", "attributes": ["wooden"]}],
            "relations": [{"subject": 0, "predicate": "on top of", "object": 1}],
        },
    ),
    ("an empty kitchen", {"objects": [{"name": "kitchen", "attributes": ["empty"]}], "relations": []}),
)

RETRIED_STATUS = frozenset({408, 409, 429})  # and every 5xx: the server may answer the same request later
MAX_RETRY_AFTER = 60.0  # seconds: a longer Retry-After is waited this long (as the openai client caps it)


class AnswerError(ValueError):
    """An answer that breaks the schema; `reason` is the fallback count it goes to."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class _Stopped(Exception):
    """Another request hit an error that stops the parse; this one was not sent."""


def parse_llm_spec(spec: str) -> tuple[str, list[str]]:
    """`llm:MODEL@URL[,URL...]` -> (model, urls). The model is what the server calls it (Ollama's
    `llama3.1:8b`, vLLM's `meta-llama/Llama-3.1-8B-Instruct`); several URLs share the requests."""
    body = spec.removeprefix("llm:")
    model, sep, urls = body.partition("@")
    if not (spec.startswith("llm:") and sep and model and urls):
        raise SpecError(
            f"LLM parser spec {spec!r}: use 'llm:MODEL@URL' (e.g. llm:llama3.1:8b@http://127.0.0.1:11434/v1)"
        )
    return model, [base_url(u) for u in urls.split(",")]


def base_url(url: str) -> str:
    """The OpenAI base URL: a bare server address gets /v1, where all three servers mount the API."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(f"LLM server {url!r}: expected http://HOST:PORT[/v1]")
    return url.rstrip("/") + ("/v1" if parts.path in ("", "/") else "")


def cache_name(model: str, system_prompt: str = SYSTEM_PROMPT, examples=EXAMPLES) -> str:
    """The graph cache's parser name: the model and a short hash of everything the server is told besides
    the caption, so another model or prompt is another parser (the server's address is not in it)."""
    blob = json.dumps([system_prompt, examples, RESPONSE_FORMAT], sort_keys=True)
    return f"llm:{model}:{hashlib.sha1(blob.encode()).hexdigest()[:10]}"


def graph_from_answer(text: str | None, caption: str) -> SceneGraph:
    """The caption's graph from the server's text, or AnswerError naming why not (the fallback reason)."""
    if not text or not text.strip():
        raise AnswerError("empty_answer")
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnswerError("bad_json", e.msg) from None
    _exact_keys(d, {"objects", "relations"}, "graph")
    for o in _list(d, "objects"):
        _exact_keys(o, {"name", "attributes"}, "object")
    relations = _list(d, "relations")
    for r in relations:
        _exact_keys(r, {"subject", "predicate", "object"}, "relation")
        for role in ("subject", "object"):
            idx = r[role]
            if isinstance(idx, int) and not isinstance(idx, bool) and not 0 <= idx < len(d["objects"]):
                raise AnswerError("index", f"relation {role} {idx} with {len(d['objects'])} objects")
    try:
        g = SceneGraph.from_dict({**d, "caption": caption}, "answer")
    except GraphFormatError as e:
        raise AnswerError("schema", str(e)) from None
    return _normalised(g)


def _exact_keys(d, keys: set[str], what: str) -> None:
    if not isinstance(d, dict) or set(d) != keys:
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise AnswerError("schema", f"{what} has {got}, expected {sorted(keys)}")


def _list(d: dict, key: str) -> list:
    if not isinstance(d[key], list):
        raise AnswerError("schema", f"{key} is not a list")
    return d[key]


def _normalised(g: SceneGraph) -> SceneGraph:
    """Lower case and single spaces, as the rules parser writes its graphs, so both compare as text."""

    def text(s: str) -> str:
        return " ".join(s.split()).lower()

    objects = [SGObject(text(o.name), tuple(text(a) for a in o.attributes if a.strip())) for o in g.objects]
    relations = [SGRelation(r.subject, text(r.predicate), r.object) for r in g.relations]
    return SceneGraph(objects, relations, g.caption)


def retry_after(response) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms`, or `Retry-After` as seconds or an HTTP date)."""
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return min(MAX_RETRY_AFTER, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return min(MAX_RETRY_AFTER, max(0.0, float(value)))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return min(MAX_RETRY_AFTER, max(0.0, when.timestamp() - time.time()))
    except (TypeError, ValueError):
        return None


class LLMParser:
    """Scene graphs from an LLM served behind the OpenAI chat completions protocol (see the module doc).

    The counters add up over calls: `requests` sent, `retries` among them, `fallbacks` by reason.
    `fallback_reasons` maps each caption of the last `parse` call that got the rules' graph to its
    reason, so a `GraphCache` can mark the cached graph as a fallback.
    """

    name = "llm"

    def __init__(
        self,
        model: str,
        url: str | Sequence[str],
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_tokens: int = 512,
        api_key: str | None = None,
        system_prompt: str = SYSTEM_PROMPT,
        examples=EXAMPLES,
        fallback: Callable | None = None,
    ):
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise SpecError(f"LLM parser: concurrency {concurrency}, max_retries {max_retries}, timeout {timeout}")
        self.model, self.urls = model, [base_url(u) for u in ([url] if isinstance(url, str) else url)]
        self.concurrency, self.max_retries, self.max_tokens = concurrency, max_retries, max_tokens
        self.backoff, self.max_backoff = backoff, max_backoff
        # retries are ours, not the transport's: one budget covers failed requests and invalid answers
        # alike, and each caption's last reason is counted
        key = api_key or os.environ.get("OPENAI_API_KEY") or "none"  # local servers take any key
        pool = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.clients = [
            httpx.Client(base_url=u, headers={"Authorization": f"Bearer {key}"}, timeout=timeout, limits=pool)
            for u in self.urls
        ]
        self.messages = [{"role": "system", "content": system_prompt}]
        for caption, graph in examples:
            self.messages += [
                {"role": "user", "content": caption},
                {"role": "assistant", "content": json.dumps(graph)},
            ]
        self.key = cache_name(model, system_prompt, examples)
        self._fallback_factory, self._fallback = fallback, None
        self._lock = threading.Lock()
        self.requests = self.retries = 0
        self.fallbacks: Counter = Counter()
        self.fallback_reasons: dict[str, str] = {}

    @property
    def fallback(self):
        """The spaCy rules parser, loaded on the first caption that needs it."""
        if self._fallback is None:
            if self._fallback_factory is None:
                from .parse import SpacyParser

                self._fallback_factory = SpacyParser
            self._fallback = self._fallback_factory()
        return self._fallback

    def parse(self, captions: Sequence[str]) -> list[SceneGraph]:
        captions = list(captions)
        stop = threading.Event()
        with ThreadPoolExecutor(min(self.concurrency, max(1, len(captions)))) as pool:
            answers = list(pool.map(lambda ic: self._ask(ic[0], ic[1], stop), enumerate(captions)))
        failed = [i for i, (g, _) in enumerate(answers) if g is None]
        rules = iter(self.fallback.parse([captions[i] for i in failed])) if failed else iter(())
        graphs, self.fallback_reasons = [], {}
        for caption, (g, reason) in zip(captions, answers):
            if g is None:
                g, self.fallback_reasons[caption] = next(rules), reason
            graphs.append(g)
        return graphs

    def _ask(self, i: int, caption: str, stop: threading.Event) -> tuple[SceneGraph | None, str | None]:
        """One caption's graph, asked up to 1 + max_retries times; (None, reason) when no answer held."""
        client, reason = self.clients[i % len(self.clients)], None
        request = {
            "model": self.model,
            "messages": [*self.messages, {"role": "user", "content": caption}],
            "response_format": RESPONSE_FORMAT,
            "temperature": 0,
            "max_tokens": self.max_tokens,
        }
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise _Stopped
            with self._lock:
                self.requests += 1
                self.retries += attempt > 0
            wait = None
            try:
                reply = client.post("chat/completions", json=request)
                if reply.status_code in RETRIED_STATUS or reply.status_code >= 500:
                    reason, wait = f"http_{reply.status_code}", retry_after(reply)
                elif reply.status_code != 200:
                    stop.set()
                    raise self._fatal(reply, client)
                else:
                    return graph_from_answer(_content(reply), caption), None
            except AnswerError as e:
                reason = e.reason
            except httpx.TimeoutException:
                reason = "timeout"
            except httpx.TransportError as e:
                stop.set()
                said = " ".join(str(e).split())[:200] or type(e).__name__
                raise LLMServerError(f"{_where(client)}: cannot reach the LLM server ({said})") from None
            if attempt < self.max_retries:
                time.sleep(wait if wait is not None else self._backoff(attempt))
        with self._lock:
            self.fallbacks[reason] += 1
        return None, reason

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)

    def _fatal(self, reply: httpx.Response, client) -> Exception:
        """What stops the parse: every other caption would meet the same answer (a 400 too: the request is
        the same for every caption but its text, so a server without json_schema support refuses them all)."""
        where, status, said = _where(client), reply.status_code, _message(reply)
        if status == 404:
            return SpecError(f"{where}: the LLM server has no model {self.model!r} (HTTP 404: {said})")
        if status in (401, 403):
            return LLMServerError(f"{where}: the LLM server refused the API key (HTTP {status}); set OPENAI_API_KEY")
        return LLMServerError(f"{where}: the LLM server rejected the request (HTTP {status}: {said})")


def _where(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def _content(reply: httpx.Response) -> str | None:
    """The answer's text; AnswerError where the reply is no chat completion or was cut at max_tokens."""
    try:
        choice = reply.json()["choices"][0]
        text, finish = choice["message"]["content"], choice.get("finish_reason")
    except (ValueError, KeyError, IndexError, TypeError):
        raise AnswerError("bad_reply", reply.text[:100]) from None
    if finish == "length":
        raise AnswerError("truncated")
    return text


def _message(reply: httpx.Response) -> str:
    """OpenAI's error body {"error": {"message": ...}}, or the body as text."""
    try:
        body = reply.json()
        body = body.get("error", body) if isinstance(body, dict) else body
        body = body.get("message", body) if isinstance(body, dict) else body
    except ValueError:
        body = reply.text
    return " ".join(str(body).split())[:200]
