import json

from bindclip.cli import main


def test_parse_writes_one_line_per_caption(tmp_path, capsys):
    src = tmp_path / "c.txt"
    src.write_text("a red circle to the left of a blue square\n\n?!\n" + "a dog " * 900 + "\n")
    out = tmp_path / "g.jsonl"
    assert main(["parse", str(src), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert first == {
        "caption": "a red circle to the left of a blue square",
        "objects": [{"name": "circle", "attributes": ["red"]}, {"name": "square", "attributes": ["blue"]}],
        "relations": [{"subject": 0, "predicate": "to the left of", "object": 1}],
    }
    assert "captions/s" in capsys.readouterr().err


def test_parse_bad_input_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("text\nhi\n")
    assert main(["parse", str(bad), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "bad.csv: no 'caption' column" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_parse_eval_on_graphs_and_on_the_fly(tmp_path, capsys):
    gold = tmp_path / "gold.csv"
    gold.write_text(
        'caption,scene_graph\na man riding a horse,"( man , ride , horse )"\nthe ball is red,"( ball , is , red )"\n'
    )
    res = tmp_path / "r.json"
    assert main(["parse-eval", str(gold), "--json", str(res)]) == 0
    scores = json.loads(res.read_text())
    assert scores["spice_f1"] == 100.0 and scores["n"] == 2
    assert "spice-style F1" in capsys.readouterr().out
    graphs = tmp_path / "g.jsonl"
    assert main(["parse", str(gold), "-o", str(graphs), "--cache", str(tmp_path / "cache.jsonl")]) == 0
    assert main(["parse-eval", str(gold), "--graphs", str(graphs), "--json", str(res)]) == 0
    assert json.loads(res.read_text())["micro"]["f1"] == 100.0
