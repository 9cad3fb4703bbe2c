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


def test_counterfactuals_mix_swaps_and_redraws():
    g = SceneGraph(
        [SGObject("cat"), SGObject("mat"), SGObject("dog")],
        [SGRelation(0, "on", 1), SGRelation(2, "under", 0), SGRelation(1, "left of", 2)],
    )
    for seed in range(20):
        cfs = g.counterfactuals(limit=3, n_shuffled=2, seed=seed)
        assert len(cfs) == 3
        swaps = [c for c in cfs if sum(a != b for a, b in zip(c.relations, g.relations)) == 1 and _is_swap(c, g)]
        assert len(swaps) == 1, seed  # one swap, two re-draws: graphs with >= 2 relations get both kinds
        assert all(c.objects == g.objects and c.relation_texts() == g.relation_texts() for c in cfs)
        assert len({c.meaning() for c in (g, *cfs)}) == 4  # none equal to the graph or to each other
    # which relation is swapped depends on the seed, so every relation gets its turn
    swapped = {
        next(k for k, (a, b) in enumerate(zip(c.relations, g.relations)) if a != b)
        for seed in range(20)
        for c in g.counterfactuals(3, 2, seed)
        if _is_swap(c, g)
    }
    assert swapped == {0, 1, 2}


def _is_swap(c: SceneGraph, g: SceneGraph) -> bool:
    diff = [(a, b) for a, b in zip(c.relations, g.relations) if a != b]
    return len(diff) == 1 and (diff[0][0].subject, diff[0][0].object) == (diff[0][1].object, diff[0][1].subject)


def test_one_relation_gets_its_swap_first():
    g = SceneGraph([SGObject("cat"), SGObject("mat"), SGObject("dog")], [SGRelation(0, "on", 1)])
    cfs = g.counterfactuals(limit=3, n_shuffled=2, seed=0)
    assert cfs[0].relations == (SGRelation(1, "on", 0),) and len(cfs) == 3
    assert g.counterfactuals(limit=1, n_shuffled=2, seed=0) == [cfs[0]]  # the swap keeps its place


@pytest.mark.parametrize("seed", range(10))
def test_no_swap_of_a_symmetric_predicate(seed):
    g = SceneGraph([SGObject("red circle"), SGObject("blue square")], [SGRelation(0, "next to", 1)])
    assert g.counterfactuals(limit=3, n_shuffled=2, seed=seed) == []  # every re-draw is the same scene
    three = SceneGraph(
        [SGObject("cat"), SGObject("mat"), SGObject("dog")], [SGRelation(0, "next to", 1), SGRelation(2, "on", 1)]
    )
    for c in three.counterfactuals(limit=3, n_shuffled=2, seed=seed):
        assert c.meaning() != three.meaning()
        assert c.relations != (SGRelation(1, "next to", 0), SGRelation(2, "on", 1))  # the symmetric swap


@pytest.mark.parametrize("seed", range(10))
def test_no_swap_of_two_nodes_with_the_same_text(seed):
    g = SceneGraph([SGObject("circle", ("red",)), SGObject("circle", ("red",))], [SGRelation(0, "left of", 1)])
    assert g.counterfactuals(limit=3, n_shuffled=2, seed=seed) == []
    g3 = SceneGraph(
        [SGObject("circle", ("red",)), SGObject("circle", ("red",)), SGObject("square")],
        [SGRelation(0, "left of", 1), SGRelation(1, "above", 2)],
    )
    for c in g3.counterfactuals(limit=3, n_shuffled=2, seed=seed):
        assert c.relations[0] != SGRelation(1, "left of", 0) or c.relations[1] != SGRelation(1, "above", 2)
        assert c.meaning() != g3.meaning()


def test_counterfactuals_skip_swaps_that_change_nothing():
    # both directions already present: swapping one gives the same multiset of relations
    g = SceneGraph([SGObject("bus"), SGObject("bus")], [SGRelation(0, "next to", 1), SGRelation(1, "next to", 0)])
    assert g.counterfactuals(limit=3, n_shuffled=3) == []
    assert SceneGraph([SGObject("cat")]).counterfactuals() == []
