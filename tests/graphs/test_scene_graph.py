import json

import pytest

from bindclip.graphs import GraphFormatError, SceneGraph, SGObject, SGRelation, read_jsonl, write_jsonl


def two_objects(pred="to the left of"):
    return SceneGraph(
        [SGObject("circle", ("red",)), SGObject("square", ("blue",))],
        [SGRelation(0, pred, 1)],
        "a red circle to the left of a blue square",
    )


def test_views():
    g = two_objects()
    assert g.node_texts() == ["red circle", "blue square"]
    assert g.relation_texts() == ["to the left of"]
    assert g.concept_phrases() == ["red circle", "blue square"]
    g2 = SceneGraph([SGObject("dog"), SGObject("dog"), SGObject("table", ("red", "wooden"))])
    assert g2.concept_phrases() == ["dog", "red wooden table"]


def test_json_round_trip(tmp_path):
    g = two_objects()
    assert SceneGraph.from_json(g.to_json()) == g
    path = tmp_path / "g.jsonl"
    assert write_jsonl([g, SceneGraph(caption="")], path) == 2
    assert list(read_jsonl(path)) == [g, SceneGraph(caption="")]
    assert json.loads(path.read_text().splitlines()[0])["relations"] == [
        {"subject": 0, "predicate": "to the left of", "object": 1}
    ]


@pytest.mark.parametrize(
    "record, message",
    [
        ({"objects": []}, "missing field 'relations'"),
        ({"objects": [{"attributes": []}], "relations": []}, "objects[0]: missing field 'name'"),
        ({"objects": [{"name": "a", "attributes": "red"}], "relations": []}, "objects[0].attributes"),
        (
            {"objects": [{"name": "a"}], "relations": [{"subject": 0, "predicate": "on", "object": 3}]},
            "relations[0].object: index 3 out of range",
        ),
        (
            {"objects": [{"name": "a"}], "relations": [{"subject": "0", "predicate": "on", "object": 0}]},
            "field 'subject' must be int",
        ),
    ],
)
def test_validation_names_record_and_field(tmp_path, record, message):
    path = tmp_path / "bad.jsonl"
    good = two_objects().to_json()
    path.write_text(good + "\n" + json.dumps(record) + "\n")
    with pytest.raises(GraphFormatError, match=r"bad.jsonl:2") as e:
        list(read_jsonl(path))
    assert message in str(e.value)


def test_bad_json_line_is_named(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text("{not json\n")
    with pytest.raises(GraphFormatError, match=r"g.jsonl:1: not valid JSON"):
        list(read_jsonl(path))


def test_relation_index_checked_at_construction():
    with pytest.raises(GraphFormatError, match="subject index 5"):
        SceneGraph([SGObject("a")], [SGRelation(5, "on", 0)], "cap")


def test_counterfactuals_swap_each_relation_and_never_equal_original():
    g = SceneGraph(
        [SGObject("cat"), SGObject("mat"), SGObject("dog")], [SGRelation(0, "on", 1), SGRelation(2, "next to", 0)]
    )
    cfs = g.counterfactuals(n_shuffled=2, seed=3)
    assert cfs[0].relations == (SGRelation(1, "on", 0), SGRelation(2, "next to", 0))
    assert cfs[1].relations == (SGRelation(0, "on", 1), SGRelation(0, "next to", 2))
    assert len(cfs) == 4
    for i, c in enumerate(cfs):
        assert not c.same_structure(g)
        assert c.objects == g.objects
        assert all(not c.same_structure(d) for d in cfs[i + 1 :])


def test_counterfactuals_skip_swaps_that_change_nothing():
    # both directions already present: swapping one gives the same multiset of relations
    g = SceneGraph([SGObject("bus"), SGObject("bus")], [SGRelation(0, "next to", 1), SGRelation(1, "next to", 0)])
    assert all(not c.same_structure(g) for c in g.counterfactuals(n_shuffled=3))
    assert SceneGraph([SGObject("cat")]).counterfactuals() == []
