"""The LLM parser against a test double of the OpenAI chat completions protocol on 127.0.0.1 (tests/llm_server.py:
no model, it answers the graphs it is given and injects the faults it is told)."""

import json

import pytest

from bindclip.cli import main
from bindclip.errors import LLMServerError, SpecError
from bindclip.graphs import SceneGraph
from bindclip.graphs.llm import GRAPH_SCHEMA, graph_from_answer, parse_llm_spec
from bindclip.graphs.parse import make_parser
from llm_server import serve

COLOURS, THINGS, BOX_COLOURS = (
    ("red", "blue", "green", "black", "white"),
    ("car", "dog"),
    ("pink", "grey", "tan", "gold", "teal"),
)
CAPTIONS = [
    f"a {c} {s} next to a {b} box number {i}"
    for i, (c, s, b) in enumerate((c, s, b) for c in COLOURS for s in THINGS for b in BOX_COLOURS)
]  # 50 distinct captions


def server_graph(caption: str) -> dict:
    """What the double answers: the colour word as an attribute, a relation to the box."""
    words = caption.split()
    return {
        "objects": [{"name": words[2], "attributes": [words[1]]}, {"name": "box", "attributes": [words[6]]}],
        "relations": [{"subject": 0, "predicate": "next to", "object": 1}],
    }


GRAPHS = {c: server_graph(c) for c in CAPTIONS}
ONE_ON_TWO = {"subject": 0, "predicate": "on", "object": 1}
FAST = {"backoff": 0.01, "timeout": 0.5, "max_retries": 3}


def as_graph(caption: str, d: dict) -> SceneGraph:
    return SceneGraph.from_dict({**d, "caption": caption})


def test_each_caption_is_asked_alone_for_exactly_the_parse_schema(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    with serve(GRAPHS) as server:
        graphs = make_parser(f"llm:{server.model}@{server.url}", **FAST).parse(CAPTIONS[:5])
        log = server.log()
    assert graphs == [as_graph(c, GRAPHS[c]) for c in CAPTIONS[:5]]
    assert sorted(r["caption"] for r in log) == sorted(CAPTIONS[:5])  # the last message holds the caption alone
    fmt = log[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == GRAPH_SCHEMA  # the nested form
    assert "schema" not in fmt and log[0]["authorization"] == "Bearer sk-test-key"
    assert log[0]["n_messages"] > 2  # system prompt and worked examples before it


def test_faulty_answers_are_retried_then_fall_back_to_the_rules_once_each(tmp_path, spacy_parser):
    """20 % of the captions meet faults: the recoverable ones end with the server's graph, the rest with the
    rules' graph, counted by reason; every caption gets one graph, in order; a rerun asks nothing."""
    recover = {"500": ["500", "ok"], "429": ["429", "ok"], "stall": ["stall", "ok"], "bad_json": ["bad_json", "ok"]}
    stay = {r: [r] * 4 for r in ("schema", "index", "bad_json", "truncated", "503", "stall")}
    faults = {CAPTIONS[i]: script for i, script in zip(range(0, 50, 5), [*recover.values(), *stay.values()])}
    broken = {CAPTIONS[i]: reason for i, reason in zip(range(20, 50, 5), stay)}
    cache = tmp_path / "graphs.sqlite"
    with serve(GRAPHS, faults, retry_after=0.3, stall=2.0) as server:
        parser = make_parser(f"llm:{server.model}@{server.url}", cache=cache, concurrency=8, **FAST)
        graphs = parser.parse(CAPTIONS)
        log = server.log()
        again = make_parser(f"llm:{server.model}@{server.url}", cache=cache, **FAST)
        assert again.parse(CAPTIONS) == graphs and len(server.log()) == len(log)  # nothing asked twice
        assert again.cached_fallbacks == len(broken)
    assert [g.caption for g in graphs] == CAPTIONS
    for caption, graph in zip(CAPTIONS, graphs):
        expected = spacy_parser.parse([caption])[0] if caption in broken else as_graph(caption, GRAPHS[caption])
        assert graph == expected, caption
    reasons = {"schema": "schema", "index": "index", "bad_json": "bad_json", "truncated": "truncated"}
    reasons |= {"503": "http_503", "stall": "timeout"}
    assert parser.fallbacks == {reasons[r]: 1 for r in stay}
    asked = [sum(r["caption"] == c for r in log) for c in CAPTIONS]
    assert [asked[i] for i in range(0, 20, 5)] == [2, 2, 2, 2] and [asked[i] for i in range(20, 50, 5)] == [4] * 6
    assert sum(asked) == 40 + 8 + 24  # one request per good caption, retries bounded by max_retries
    times = [r["t"] for r in log if r["caption"] == CAPTIONS[5]]  # the 429: Retry-After 0.3 s, not the backoff
    assert times[1] - times[0] >= 0.29


def test_a_new_model_or_prompt_is_a_new_cache_key(tmp_path):
    with serve(GRAPHS, model="m1") as one, serve(GRAPHS, model="m2") as two:
        cache = tmp_path / "c.sqlite"
        make_parser(f"llm:m1@{one.url}", cache=cache).parse(CAPTIONS[:3])
        make_parser(f"llm:m2@{two.url}", cache=cache).parse(CAPTIONS[:3])
        make_parser(f"llm:m1@{one.url}", cache=cache, system_prompt="Another prompt.").parse(CAPTIONS[:3])
        make_parser(f"llm:m1@{two.url},{one.url}", cache=cache).parse(CAPTIONS[:3])  # another address: cached
        assert (len(one.log()), len(two.log())) == (6, 3)


def test_requests_are_shared_over_several_servers():
    with serve(GRAPHS) as one, serve(GRAPHS) as two:
        make_parser(f"llm:{one.model}@{one.url},{two.url}", concurrency=4).parse(CAPTIONS[:10])
        assert (len(one.log()), len(two.log())) == (5, 5)


def test_what_no_retry_mends_stops_the_parse_with_one_error():
    with serve(GRAPHS, model="served") as server:
        with pytest.raises(SpecError, match="no model 'missing'.*404"):
            make_parser(f"llm:missing@{server.url}", **FAST).parse(CAPTIONS[:20])
        assert len(server.log()) <= 8  # stopped: the other captions were not all sent
        port = server.port
    with pytest.raises(LLMServerError, match="cannot reach"):
        make_parser(f"llm:served@http://127.0.0.1:{port}/v1", **FAST).parse(CAPTIONS[:3])


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty_answer"),
        ('{"objects": [', "bad_json"),
        ('{"objects": [], "relations": [], "caption": "x"}', "schema"),
        ('{"objects": [{"name": "dog"}], "relations": []}', "schema"),
        ('{"objects": [{"name": "dog", "attributes": [3]}], "relations": []}', "schema"),
        (json.dumps({"objects": [{"name": "dog", "attributes": []}], "relations": [ONE_ON_TWO]}), "index"),
        ('{"objects": [{"name": " ", "attributes": []}], "relations": []}', "schema"),
    ],
)
def test_answers_are_checked_against_the_schema(text, reason):
    from bindclip.graphs.llm import AnswerError

    with pytest.raises(AnswerError) as e:
        graph_from_answer(text, "a dog")
    assert e.value.reason == reason


def test_a_valid_answer_is_normalised_like_the_rules_output():
    g = graph_from_answer('{"objects": [{"name": "Tennis  Racket", "attributes": ["Red"]}], "relations": []}', "c")
    assert g.to_dict()["objects"] == [{"name": "tennis racket", "attributes": ["red"]}]


def test_spec_names_the_model_and_the_servers():
    assert parse_llm_spec("llm:llama3.1:8b@http://127.0.0.1:11434") == ("llama3.1:8b", ["http://127.0.0.1:11434/v1"])
    assert parse_llm_spec("llm:org/m@http://a:1/v1,http://b:2/v1")[1] == ["http://a:1/v1", "http://b:2/v1"]
    for bad in ("llm:", "llm:model", "llm:@http://a:1", "llm:m@ftp://x"):
        with pytest.raises(SpecError):
            parse_llm_spec(bad)


def test_cli_parse_and_parse_eval_with_an_llm(tmp_path, capsys):
    """`bindclip parse` and `bindclip parse-eval` end to end, the double answering a FACTUAL-SG file's gold graphs."""
    from bindclip.graphs.score import read_factual_csv

    gold_csv = tmp_path / "gold.csv"  # FACTUAL-SG's format: the gold tuples, "is" for an attribute
    gold_csv.write_text(
        "image_id,region_id,caption,scene_graph\n"
        '1,1,white stove in a kitchen,"( stove , is , white ) , ( stove , in , kitchen )"\n'
        '2,2,a man riding a brown horse,"( horse , is , brown ) , ( man , ride , horse )"\n'
        '3,3,two dogs on a red sofa,"( dogs , is , 2 ) , ( sofa , is , red ) , ( dogs , on , sofa )"\n'
    )
    gold = read_factual_csv(gold_csv)
    answers = {g.caption: {k: v for k, v in g.to_dict().items() if k != "caption"} for g in gold}
    (tmp_path / "caps.txt").write_text("\n".join(CAPTIONS[:6]) + "\n")
    with serve(answers | GRAPHS) as server:
        llm = ["--parser", "llm", "--llm-url", server.url, "--llm-model", server.model, "--concurrency", "4"]
        assert main(["parse", str(tmp_path / "caps.txt"), "-o", str(tmp_path / "g.jsonl"), *llm]) == 0
        out = tmp_path / "eval.json"
        assert main(["parse-eval", str(gold_csv), "--json", str(out), *llm]) == 0
        assert main(["parse", str(tmp_path / "caps.txt"), "-o", str(tmp_path / "x"), "--parser", "llm"]) == 2
        missing = ["--parser", "llm", "--llm-url", server.url, "--llm-model", "nope"]
        assert main(["parse", str(tmp_path / "caps.txt"), "-o", str(tmp_path / "x"), *missing]) == 2
    written = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert [w["objects"] for w in written] == [GRAPHS[c]["objects"] for c in CAPTIONS[:6]]
    result = json.loads(out.read_text())
    assert result["spice_f1"] > 0.99 and result["source"].startswith("parser llm:") and result["captions_per_s"] > 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2].startswith("error: --parser llm: give the server") and "no model 'nope'" in err[-1]
