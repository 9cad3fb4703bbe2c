"""A test double for the OpenAI chat completions protocol, on 127.0.0.1: it is not a model.

It answers each caption with the graph it was given for that caption (an empty graph for any other), after
`latency` seconds, and follows a script of faults per caption and attempt: `faults[caption] = ["500", "ok"]`
fails the first request for that caption with a 500 and answers the second. Fault kinds: "500", "503",
"429" (with Retry-After: `retry_after` seconds), "bad_json", "schema" (a field renamed), "index" (a
relation pointing past the objects), "truncated" (finish_reason "length"), "stall" (no answer for
`stall` seconds, past the client's timeout), "ok". A model other than `model` gets OpenAI's 404.

It runs in its own process (so a client's threads and the server do not share one interpreter lock) and
reports what it saw at GET /_log: every request's caption, arrival time, model and response_format.

    with serve(graphs, latency=0.1) as server:
        make_parser(f"llm:{server.model}@{server.url}")
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import urlopen


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        state = self.server.state
        if self.path == "/_log":
            with state["lock"]:
                self._send(200, {"requests": list(state["log"])})
        elif self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": state["model"], "object": "model"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        state = self.server.state
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        caption = request["messages"][-1]["content"]
        with state["lock"]:
            attempt = state["attempts"].get(caption, 0)
            state["attempts"][caption] = attempt + 1
            state["log"].append(
                {
                    "caption": caption,
                    "t": time.time(),
                    "model": request.get("model"),
                    "response_format": request.get("response_format"),
                    "n_messages": len(request["messages"]),
                    "authorization": self.headers.get("Authorization"),
                }
            )
        if request.get("model") != state["model"]:
            return self._send(
                404,
                {
                    "error": {
                        "message": f"The model `{request.get('model')}` does not exist.",
                        "code": "model_not_found",
                    }
                },
            )
        script = state["faults"].get(caption, [])
        fault = script[attempt] if attempt < len(script) else "ok"
        time.sleep(state["latency"])
        if fault in ("500", "503"):
            return self._send(int(fault), {"error": {"message": "injected server error"}})
        if fault == "429":
            return self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": str(state["retry_after"])})
        if fault == "stall":
            time.sleep(state["stall"])
        graph = state["graphs"].get(caption, {"objects": [], "relations": []})
        content, finish = json.dumps(graph), "stop"
        if fault == "bad_json":
            content = content[:-3] + "}}"
        elif fault == "schema":
            content = json.dumps({"nodes": graph["objects"], "relations": graph["relations"]})
        elif fault == "index":
            content = json.dumps({**graph, "relations": [{"subject": 0, "predicate": "on", "object": 99}]})
        elif fault == "truncated":
            content, finish = content[: len(content) // 2], "length"
        self._send(
            200,
            {
                "id": f"chatcmpl-{attempt}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": state["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass  # a client that gave up on a stalled answer closed its socket: nothing to report


def _run(conn, graphs, faults, model, latency, retry_after, stall):
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = {
        "graphs": graphs,
        "faults": faults,
        "model": model,
        "latency": latency,
        "retry_after": retry_after,
        "stall": stall,
        "attempts": {},
        "log": [],
        "lock": threading.Lock(),
    }
    conn.send(server.server_address[1])
    server.serve_forever()


class Served:
    def __init__(self, process, port: int, model: str):
        self.process, self.port, self.model = process, port, model
        self.url = f"http://127.0.0.1:{port}/v1"

    def log(self) -> list[dict]:
        with urlopen(f"http://127.0.0.1:{self.port}/_log", timeout=10) as r:
            return json.loads(r.read())["requests"]

    def close(self):
        self.process.kill()
        self.process.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve(
    graphs: dict[str, dict],
    faults: dict[str, list[str]] | None = None,
    model: str = "test-double",
    latency: float = 0.0,
    retry_after: float = 1,
    stall: float = 5.0,
) -> Served:
    """Start the double in a child process on a free loopback port; returns once it listens."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(
        target=_run, args=(child, graphs, faults or {}, model, latency, retry_after, stall), daemon=True
    )
    process.start()
    if not parent.poll(30):
        process.kill()
        raise RuntimeError("the LLM test double did not start in 30 s")
    return Served(process, parent.recv(), model)
