"""The OC-CLIP paper parses training and test captions with the same parser: a run records the parser that made
its training graphs, and `bindclip eval` parses the benchmark captions with it unless told otherwise."""

import json

from colour_scorer import save_colour

from bindclip.cli import main
from bindclip.eval.sugarcrepe import SPLITS
from conftest import write_img2dataset_shards
from llm_server import serve

TINY = ["data.source=wds", "data.workers=0", "data.batch_size=4", "run.steps=2", "run.keep=0"]
TINY += ["model.binding.dim=32", "model.binding.heads=2"]
PAIR = {"filename": "r.jpg", "caption": "a red car", "negative_caption": "a blue car"}


def graph(colour: str) -> dict:
    return {"objects": [{"name": "car", "attributes": [colour]}], "relations": []}


def test_eval_parses_benchmarks_with_the_parser_of_the_training_graphs(tmp_path):
    pattern, captions = write_img2dataset_shards(tmp_path / "in", n_shards=2, per_shard=4)
    bench = tmp_path / "sugarcrepe"
    save_colour(tmp_path / "images" / "r.jpg", "red")
    for split in SPLITS:
        bench.mkdir(exist_ok=True)
        (bench / f"{split}.json").write_text(json.dumps({"0": PAIR}))
    answers = {c: graph("red") for c in captions} | {"a red car": graph("red"), "a blue car": graph("blue")}
    with serve(answers) as server:
        llm = ["--parser", "llm", "--llm-url", server.url, "--llm-model", server.model]
        out = tmp_path / "graphs"
        assert main(["parse", "--shards", pattern, "-o", str(out), *llm]) == 0
        spec = json.loads((out / "annotate.json").read_text())["parser"]
        assert spec == f"llm:{server.model}@{server.url}"
        run = tmp_path / "run"
        shards = f"data.shards={out}/{{00000..00001}}.tar"
        train = ["train", "--method", "oc-clip", "--preset", "world-small", "--out", str(run), *TINY, shards]
        assert main(train) == 0
        assert json.loads((run / "config.json").read_text())["data"]["parser"] == spec  # recorded by the run
        asked_in_training = len(server.log())
        evaluate = ["eval", "--model", str(run), "--bench", f"sugarcrepe:{bench}:{tmp_path / 'images'}"]
        assert main([*evaluate, "--json", str(tmp_path / "llm.json")]) == 0
        asked = [r["caption"] for r in server.log()[asked_in_training:]]
        assert sorted(set(asked)) == ["a blue car", "a red car"]  # the benchmark's captions, asked of the LLM
        assert main([*evaluate, "--parser", "spacy", "--json", str(tmp_path / "spacy.json")]) == 0
        assert len(server.log()) == asked_in_training + len(asked)  # told otherwise: the server is not asked
    meta = {k: json.loads((tmp_path / f"{k}.json").read_text())["meta"]["parsers"] for k in ("llm", "spacy")}
    assert meta == {"llm": {"run": spec}, "spacy": {"run": "spacy"}}
