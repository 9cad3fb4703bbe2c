import random

import torch

from bindclip.graphs import SceneGraph, SGObject, SGRelation
from bindclip.graphs.parse import SpacyParser
from bindclip.losses import ClipLoss
from bindclip.methods.clip_hn import CaptionEditor, HardNegativeClipLoss, batch_negatives, fix_articles, hard_negatives
from bindclip.train import load_config
from bindclip.world.benchmarks import satisfies


def graph(caption, objects, relations=()):
    return SceneGraph([SGObject(n, tuple(a)) for n, a in objects], [SGRelation(*r) for r in relations], caption)


def test_negatives_edit_the_words_the_graph_locates():
    g = graph(
        "a purple heart to the left of a large blue diamond",
        [("heart", ["purple"]), ("diamond", ["large", "blue"])],
        [(0, "to the left of", 1)],
    )
    edit = CaptionEditor(g.caption, g)
    rng = random.Random(0)
    assert edit.swap_attributes(rng) == "a blue heart to the left of a large purple diamond"
    assert edit.swap_relation(rng) == "a large blue diamond to the left of a purple heart"
    assert edit.replace_attribute(rng, ["blue", "orange"]) == "an orange heart to the left of a large blue diamond"


def test_relation_swap_follows_the_graph_not_word_order():
    g = graph(
        "there is a pink pentagon; a yellow triangle is to the left of it",
        [("pentagon", ["pink"]), ("triangle", ["yellow"])],
        [(1, "to the left of", 0)],
    )
    assert (
        CaptionEditor(g.caption, g).swap_relation(random.Random(0))
        == "there is a yellow triangle; a pink pentagon is to the left of it"
    )


def test_plurals_multiword_names_and_captions_the_graph_misses():
    g = graph(
        "two wooden train tracks under red chairs", [("train track", ["wooden"]), ("chair", ["red"])], [(0, "under", 1)]
    )
    negatives = hard_negatives(CaptionEditor(g.caption, g), random.Random(0), ["green"])
    assert "two red train tracks under wooden chairs" in negatives
    assert "two red chairs under wooden train tracks" in negatives
    symmetric = graph("a dog next to a cat", [("dog", []), ("cat", [])], [(0, "next to", 1)])
    assert hard_negatives(CaptionEditor(symmetric.caption, symmetric), random.Random(0), ["red"]) == []
    lost = graph("click to enlarge", [("dog", ["brown"])])
    assert hard_negatives(CaptionEditor(lost.caption, lost), random.Random(0), ["green"]) == []


def test_articles_agree_after_edits():
    assert fix_articles("a orange cube and an red ball. A apple") == "an orange cube and a red ball. An apple"


def test_world_negatives_are_false_of_their_scene():
    """Parsed back, every negative of 120 training samples is false of the scene its caption is true of."""
    cfg = load_config(None, [], method="clip-hn", preset="world-small")
    world = cfg.data.training_world()
    samples = [world.sample(random.Random(k), "train") for k in range(120)]
    parser = SpacyParser()
    checked = 0
    for s in samples:
        negs = batch_negatives([s.caption], [s.graph], seed=1)
        for neg, g in zip(negs, parser.parse(negs)):
            assert not satisfies(s.scene, g, world.cfg), (s.caption, neg)
            checked += 1
    assert checked >= 2 * len(samples)


def test_batch_negatives_are_seeded():
    cfg = load_config(None, [], method="clip-hn", preset="world-small")
    samples = cfg.data.training_world().batch(16, seed=3)[1]
    caps, graphs = [s.caption for s in samples], [s.graph for s in samples]
    assert batch_negatives(caps, graphs, 5) == batch_negatives(caps, graphs, 5)
    assert batch_negatives(caps, graphs, 5) != batch_negatives(caps, graphs, 6)


def negclip_loop(img, txt, neg, scale):
    """NegCLIP's loss written out: image i picks caption i among all captions and all negatives."""
    total = 0.0
    n = len(img)
    for i in range(n):
        logits = scale * torch.cat([img[i] @ txt.T, img[i] @ neg.T])
        total += -logits.log_softmax(0)[i]
        col = scale * (txt[i] @ img.T)
        total += -col.log_softmax(0)[i]
    return total / (2 * n)


def test_hard_negative_loss_matches_a_loop_and_is_clip_without_negatives():
    g = torch.Generator().manual_seed(0)
    img, txt, neg = (torch.nn.functional.normalize(torch.randn(k, 8, generator=g), dim=-1) for k in (5, 5, 7))
    loss = HardNegativeClipLoss()(img, txt, 10.0, neg)["contrastive_loss"]
    assert torch.allclose(loss, negclip_loop(img, txt, neg, 10.0), atol=1e-6)
    assert torch.allclose(
        HardNegativeClipLoss()(img, txt, 10.0, neg[:0])["contrastive_loss"],
        ClipLoss()(img, txt, 10.0)["contrastive_loss"],
    )
