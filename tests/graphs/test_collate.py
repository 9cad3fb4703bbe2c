import torch

from bindclip.graphs import SceneGraph, SGObject, SGRelation, collate_graphs


def test_collate_pads_and_shares_texts():
    g1 = SceneGraph([SGObject("circle", ("red",)), SGObject("square", ("blue",))], [SGRelation(0, "left of", 1)])
    g2 = SceneGraph([SGObject("circle", ("red",))])
    g3 = SceneGraph()
    b = collate_graphs([g1, g2, g3], empty_as_caption=False)
    assert b.texts == ["red circle", "blue square", "left of"]
    assert b.node_text.tolist() == [[0, 1], [0, 0], [0, 0]]
    assert b.node_mask.tolist() == [[True, True], [True, False], [False, False]]
    assert b.rel_text.tolist() == [[2], [0], [0]]
    assert b.rel_subject.tolist() == [[0], [0], [0]] and b.rel_object.tolist() == [[1], [0], [0]]
    assert b.rel_mask.tolist() == [[True], [False], [False]]
    assert b.batch_size == 3
    for name in ("node_text", "rel_text", "rel_subject", "rel_object"):
        assert getattr(b, name).dtype == torch.long


def test_collate_caps_drop_relations_past_the_kept_nodes():
    g = SceneGraph([SGObject(n) for n in "abc"], [SGRelation(0, "on", 1), SGRelation(0, "by", 2)])
    b = collate_graphs([g], max_nodes=2)
    assert b.node_mask.sum() == 2
    assert b.rel_mask.tolist() == [[True]]
    assert [b.texts[i] for i in b.rel_text[0]] == ["on"]


def test_empty_batch_has_one_text():
    b = collate_graphs([SceneGraph()], empty_as_caption=False)
    assert b.texts == [""] and not b.node_mask.any() and not b.rel_mask.any()


def test_empty_graph_becomes_its_caption():
    b = collate_graphs([SceneGraph(caption=" a blur "), SceneGraph([SGObject("dog")])])
    assert b.texts == ["a blur", "dog"]
    assert b.node_mask.tolist() == [[True], [True]] and not b.rel_mask.any()
    assert b.captions == [" a blur ", ""]


def test_counterfactual_indices_follow_the_relations():
    g = SceneGraph([SGObject("a"), SGObject("b"), SGObject("c")], [SGRelation(0, "on", 1), SGRelation(2, "by", 0)], "x")
    single = SceneGraph([SGObject("a")])
    b = collate_graphs([g, single], counterfactuals=3, n_shuffled=1)
    cfs = g.counterfactuals(3, 1, seed=0)
    assert b.cf_mask.tolist() == [[True, True, True], [False, False, False]]
    for j, cf in enumerate(cfs):
        assert b.cf_subject[0, j].tolist() == [r.subject for r in cf.relations]
        assert b.cf_object[0, j].tolist() == [r.object for r in cf.relations]
    assert b.cf_subject[0, 0].tolist() == [1, 2]  # first negative: relation 0 swapped
    moved = b.to("cpu")
    assert moved.cf_mask.tolist() == b.cf_mask.tolist() and moved.captions == b.captions


def test_shared_object_mask_marks_captions_naming_the_same_object():
    b = collate_graphs(
        [
            SceneGraph([SGObject("circle", ("red",)), SGObject("square")]),
            SceneGraph([SGObject("square"), SGObject("star")]),
            SceneGraph([SGObject("circle", ("blue",))]),
        ]
    )
    assert b.shared_object_mask().tolist() == [[False, True, False], [True, False, False], [False, False, False]]
