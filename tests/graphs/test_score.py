import pytest

from bindclip.graphs import GraphFormatError, SceneGraph, SGObject, SGRelation
from bindclip.graphs.factual import parse_factual, parse_factual_lenient, read_factual_csv
from bindclip.graphs.score import graph_tuples, score_graphs


def test_parse_factual_kinds():
    g = parse_factual("( stove , is , white ) , ( stove , in , kitchen ) , ( pole )", "white stove")
    assert g.objects == (SGObject("stove", ("white",)), SGObject("kitchen"), SGObject("pole"))
    assert g.relations == (SGRelation(0, "in", 1),)


def test_parse_factual_errors_name_the_place():
    with pytest.raises(GraphFormatError, match="gold.csv:7: tuple '\\( a , b \\)' has 2 parts"):
        parse_factual("( a , b )", where="gold.csv:7")
    with pytest.raises(GraphFormatError, match="no '\\( ... \\)' tuple"):
        parse_factual("man rides horse", where="x")
    g, bad = parse_factual_lenient("( man , ride , horse ) , ( a , b ) , ( , is , red )")
    assert bad == 2 and g.relations == (SGRelation(0, "ride", 1),)


def test_tuples_are_lemmatised_and_determiner_free(lemmatizer):
    gold = parse_factual("( bushes , grow on , the lawn ) , ( boats , is , five ) , ( glasses )")
    t = graph_tuples(gold, lemmatizer)
    assert t["object"] == {("bush",), ("lawn",), ("boat",), ("glass",)}
    assert t["attribute"] == {("boat", "5")}
    assert t["relation"] == {("bush", "grow on", "lawn")}
    # a name that already is a base form stays one ("glass", "bus")
    assert lemmatizer("glass") == "glass" and lemmatizer("buses") == "bus" and lemmatizer("bus") == "bus"
    assert lemmatizer("sitting in", "VERB") == "sit in"


def test_f1_known_by_hand(lemmatizer, tmp_path):
    gold_csv = tmp_path / "gold.csv"
    gold_csv.write_text(
        "caption,scene_graph\n"
        'white stove in a kitchen,"( stove , is , white ) , ( stove , in , kitchen )"\n'
        'a man riding a horse,"( man , ride , horse )"\n'
    )
    gold = read_factual_csv(gold_csv)
    pred = [
        # objects stove, kitchen (2/2); attribute wrong (0/1 gold, 1 pred); relation right
        SceneGraph([SGObject("stove", ("black",)), SGObject("kitchen")], [SGRelation(0, "in", 1)]),
        # objects man, horse, saddle (2 of 3 pred right); no relation (gold 1)
        SceneGraph([SGObject("man"), SGObject("horse"), SGObject("saddle")]),
    ]
    s = score_graphs(pred, gold, lemmatizer)
    # caption 1: tp 3, pred 4, gold 4 -> F1 0.75 ; caption 2: tp 2, pred 3, gold 3 -> F1 2/3
    assert s.per_caption == pytest.approx([0.75, 2 / 3])
    assert s.spice_f1 == pytest.approx((0.75 + 2 / 3) / 2)
    assert (s.micro.tp, s.micro.n_pred, s.micro.n_gold) == (5, 7, 7)
    assert s.per_kind["object"].f1 == pytest.approx(2 * 4 / (5 + 4))
    assert s.per_kind["attribute"].f1 == 0.0
    assert s.per_kind["relation"].f1 == pytest.approx(2 * 1 / (1 + 2))
    assert "spice-style F1" in s.table()
    d = s.to_dict()
    assert d["n"] == 2 and d["relation"]["tp"] == 1


def test_gold_csv_without_columns(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("text,graph\na,b\n")
    with pytest.raises(GraphFormatError, match="missing column"):
        read_factual_csv(p)


def test_real_dev_file_reads(lemmatizer):
    from conftest import SHARED

    path = SHARED / "data/factual_sg/dev.csv"
    if not path.exists():
        pytest.skip("shared data not present")
    gold = read_factual_csv(path)
    assert len(gold) == 1000
    assert sum(len(g.relations) for g in gold) > 500
