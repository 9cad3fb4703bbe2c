import json

import pytest

from bindclip.eval.sugarcrepe import BenchmarkFormatError, graph_diagnostic, read_split, read_sugarcrepe
from conftest import SHARED

REAL = SHARED / "data" / "sugarcrepe"


@pytest.mark.skipif(not REAL.is_dir(), reason="shared data not present")
def test_reads_the_real_files_by_key():
    splits = read_sugarcrepe(REAL)
    assert {k: len(v) for k, v in splits.items()} == {
        "add_att": 692,
        "add_obj": 2062,
        "replace_att": 788,
        "replace_obj": 1652,
        "replace_rel": 1406,
        "swap_att": 666,
        "swap_obj": 245,
    }
    ids = [it.id for it in splits["swap_obj"]]
    assert "108" not in ids and ids[-1] == "245"  # not contiguous: read by key
    first = splits["swap_obj"][0]
    assert first.filename == "000000222235.jpg" and first.negative.startswith("A cat sits on the plant")


def test_bad_files_name_the_item(tmp_path):
    bad = tmp_path / "swap_att.json"
    bad.write_text(json.dumps({"0": {"filename": "a.jpg", "caption": "x"}}))
    with pytest.raises(BenchmarkFormatError, match=r"swap_att.json: item '0' has no str .negative_caption."):
        read_split(bad)
    with pytest.raises(FileNotFoundError, match="missing SugarCrepe file"):
        read_sugarcrepe(tmp_path)


def test_graph_diagnostic_counts_pairs_that_parse_alike(tmp_path, spacy_parser):
    path = tmp_path / "swap_att.json"
    path.write_text(
        json.dumps(
            {
                "0": {
                    "filename": "a.jpg",
                    "caption": "a red cat and a white dog",
                    "negative_caption": "a white cat and a red dog",
                },
                "2": {"filename": "b.jpg", "caption": "a cat on a mat", "negative_caption": "a cat on the mat"},
                "3": {
                    "filename": "c.jpg",
                    "caption": "a red cat and a white dog",
                    "negative_caption": "a white dog and a red cat",
                },
            }
        )
    )  # same graph, nodes in another order
    out = graph_diagnostic({"swap_att": read_split(path)}, spacy_parser)
    assert out == {"swap_att": {"n": 3, "graphs_differ": 1, "share": 0.3333}}


def test_eval_graphs_cli(tmp_path, capsys):
    from bindclip.cli import main
    from bindclip.eval.sugarcrepe import SPLITS

    for s in SPLITS:
        pair = {
            "filename": "a.jpg",
            "caption": "a red cat and a white dog",
            "negative_caption": "a white cat and a red dog",
        }
        (tmp_path / f"{s}.json").write_text(json.dumps({"0": pair}))
    assert main(["eval-graphs", str(tmp_path), "--json", str(tmp_path / "out.json")]) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["swap_att"] == {"n": 1, "graphs_differ": 1, "share": 1.0}
    assert "graphs differ in 100.0%" in capsys.readouterr().out
