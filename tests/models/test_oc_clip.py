import pytest
import torch

from bindclip.errors import ConfigError
from bindclip.graphs import GraphFormatError, SceneGraph, SGObject, SGRelation
from bindclip.models.oc_clip import GraphState
from bindclip.models.reference import binding_weights_one_pair, score_matrix_loop


def random_state(model, C=3, N=4, R=3, seed=0):
    """Random graph embeddings with ragged masks (caption 1 has 2 nodes and 1 relation, caption 2 none)."""
    g = torch.Generator().manual_seed(seed)
    D = model.score_head.node_proj.in_features
    node_mask = torch.ones(C, N, dtype=torch.bool)
    node_mask[1, 2:] = False
    rel_mask = torch.ones(C, R, dtype=torch.bool)
    rel_mask[1, 1:] = False
    rel_mask[2] = False
    n_real = node_mask.sum(1, keepdim=True)
    subject = (torch.rand(C, R, generator=g) * n_real).long()
    obj = (torch.rand(C, R, generator=g) * n_real).long()
    return GraphState(
        torch.randn(C, N, D, generator=g), node_mask, torch.randn(C, R, D, generator=g), subject, obj, rel_mask
    )


def patches_for(model, n=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return model.binding.encode_patches(torch.randn(n, 16, model._patch_width(), generator=g))


@pytest.mark.parametrize(
    "binding",
    [
        {},
        {"iterations": 2, "n_default": 1},
        {"n_default": 0},
        {"attention": "standard"},
        {"attention": "standard", "iterations": 2},
    ],
)
def test_vectorised_score_matrix_equals_per_pair_loop(binding, make_oc_clip):
    model = make_oc_clip(**binding)
    g, patches = random_state(model), patches_for(model)
    with torch.no_grad():
        fast = model.score_matrix(patches, g)
        slow = score_matrix_loop(model, patches, g)
    assert fast.shape == (3, 2)
    assert torch.allclose(fast, slow, atol=1e-5), (fast, slow)


def test_aligned_layout_equals_cross_layout(oc_clip):
    g, patches = random_state(oc_clip), patches_for(oc_clip, n=3)
    with torch.no_grad():
        cross, _ = oc_clip.binding(patches, g.nodes, g.node_mask)  # [C, I, N, T]
        # image b against graphs (b, b+1 mod 3): J = 2 graphs per image
        pick = torch.tensor([[0, 1], [1, 2], [2, 0]])
        aligned, _ = oc_clip.binding(patches, g.nodes[pick], g.node_mask[pick], aligned=True)
    for b in range(3):
        for j in range(2):
            assert torch.allclose(aligned[b, j], cross[pick[b, j], b], atol=1e-6)


def test_inverted_attention_sums_to_one_over_queries(oc_clip):
    g, patches = random_state(oc_clip), patches_for(oc_clip)
    weights, attention = oc_clip.binding(patches, g.nodes, g.node_mask)
    assert attention.shape == (3, 2, 4 + 4, 16)  # N + K default queries
    assert torch.allclose(attention.sum(2), torch.ones(3, 2, 16), atol=1e-6)
    assert torch.all(attention[1, :, 2:4] == 0)  # padded nodes take no patch mass
    real = weights[g.node_mask[:, None].expand(-1, 2, -1)]
    assert torch.allclose(real.sum(-1), torch.ones(real.shape[0]), atol=1e-5)
    one = binding_weights_one_pair(oc_clip, patches[1], g.nodes[0], g.node_mask[0])
    assert torch.allclose(one, weights[0, 1], atol=1e-6)


def test_standard_attention_pools_each_node_on_its_own(make_oc_clip):
    model = make_oc_clip(attention="standard")
    g, patches = random_state(model), patches_for(model)
    with torch.no_grad():
        weights, _ = model.binding(patches, g.nodes, g.node_mask)
        alone, _ = model.binding(patches, g.nodes[:1, :1], g.node_mask[:1, :1])
    real = weights[g.node_mask[:, None].expand(-1, 2, -1)]
    assert torch.allclose(real.sum(-1), torch.ones(real.shape[0]), atol=1e-5)
    assert torch.all(weights[1, :, 2:] == 0)  # padded nodes pool nothing
    assert torch.allclose(alone[0, :, 0], weights[0, :, 0], atol=1e-6)  # other nodes change nothing: no competition
    with torch.no_grad():
        inverted = make_oc_clip()
        inverted.load_state_dict(model.state_dict())
        w_all, _ = inverted.binding(patches, g.nodes, g.node_mask)
        w_one, _ = inverted.binding(patches, g.nodes[:1, :1], g.node_mask[:1, :1])
    assert not torch.allclose(w_one[0, :, 0], w_all[0, :, 0], atol=1e-4)  # inverted: nodes compete


def test_binding_options_are_checked(make_oc_clip):
    with pytest.raises(ConfigError, match="model.binding.attention"):
        make_oc_clip(attention="sideways")
    with pytest.raises(ConfigError, match="model.binding.n_default"):
        make_oc_clip(n_default=-1)


def test_permuting_nodes_permutes_slots(oc_clip):
    g, patches = random_state(oc_clip), patches_for(oc_clip)
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        w, _ = oc_clip.binding(patches, g.nodes[:1], g.node_mask[:1])
        wp, _ = oc_clip.binding(patches, g.nodes[:1, perm], g.node_mask[:1, perm])
        assert torch.allclose(wp[0, :, :], w[0, :, perm], atol=1e-6)
        # remapping the relations too leaves the score unchanged
        inv = torch.argsort(perm)
        gp = GraphState(
            g.nodes[:, perm], g.node_mask[:, perm], g.relations, inv[g.rel_subject], inv[g.rel_object], g.rel_mask
        )
        assert torch.allclose(oc_clip.score_matrix(patches, g)[0], oc_clip.score_matrix(patches, gp)[0], atol=1e-5)


def test_swapping_subject_and_object_changes_the_relation_score(oc_clip):
    g, patches = random_state(oc_clip), patches_for(oc_clip)
    swapped = GraphState(g.nodes, g.node_mask, g.relations, g.rel_object, g.rel_subject, g.rel_mask)
    # make caption 0's first relation a real pair of distinct nodes
    g.rel_subject[0, 0], g.rel_object[0, 0] = 0, 1
    swapped.rel_subject[0, 0], swapped.rel_object[0, 0] = 1, 0
    with torch.no_grad():
        a, b = oc_clip.score_matrix(patches, g), oc_clip.score_matrix(patches, swapped)
    assert (a[0] - b[0]).abs().min() > 1e-4
    assert torch.allclose(a[2], b[2])  # no relations: nothing to swap


def test_padding_is_irrelevant(oc_clip):
    g, patches = random_state(oc_clip), patches_for(oc_clip)
    junk = GraphState(g.nodes.clone(), g.node_mask, g.relations.clone(), g.rel_subject, g.rel_object, g.rel_mask)
    junk.nodes[~g.node_mask] = 1e3
    junk.relations[~g.rel_mask] = -1e3
    with torch.no_grad():
        assert torch.allclose(oc_clip.score_matrix(patches, g), oc_clip.score_matrix(patches, junk), atol=1e-6)
        # and extra all-padding columns change nothing either
        pad = GraphState(
            torch.cat([g.nodes, torch.randn(3, 2, g.nodes.shape[-1])], 1),
            torch.cat([g.node_mask, torch.zeros(3, 2, dtype=torch.bool)], 1),
            g.relations,
            g.rel_subject,
            g.rel_object,
            g.rel_mask,
        )
        assert torch.allclose(oc_clip.score_matrix(patches, g), oc_clip.score_matrix(patches, pad), atol=1e-5)


def graphs():
    red_left = SceneGraph(
        [SGObject("circle", ("red",)), SGObject("square", ("blue",))],
        [SGRelation(0, "to the left of", 1)],
        "a red circle to the left of a blue square",
    )
    return [red_left, SceneGraph([SGObject("cross", ("green",))], [], "a green cross"), SceneGraph(caption="")]


def test_forward_from_captions_and_empty_graphs_get_finite_scores(oc_clip, make_oc_clip):
    images = torch.randn(3, 3, 32, 32)
    batch = oc_clip.collate(graphs())
    out = oc_clip(images, batch)
    assert out["logits_per_image"].shape == (3, 3)
    assert out["counterfactual_logits"].shape == (3, 1 + oc_clip.cfg.counterfactuals)
    assert out["counterfactual_mask"].tolist()[0][:2] == [True, True]  # the swap
    assert not out["counterfactual_mask"][1:, 1:].any()  # no relation, no counterfactual
    assert torch.isfinite(out["logits_per_image"]).all()
    # column 0 of the counterfactual logits is the caption's own diagonal score
    assert torch.allclose(out["counterfactual_logits"][:, 0], out["logits_per_image"].diagonal(), atol=1e-6)
    no_default = make_oc_clip(n_default=0)
    assert torch.isfinite(no_default.score(images, graphs())).all()


def test_relation_out_of_range_names_the_caption(oc_clip):
    batch = oc_clip.collate(graphs())
    batch.rel_object[0, 0] = 5
    with pytest.raises(GraphFormatError, match="caption 'a red circle to the left of a blue square'"):
        oc_clip.encode_graphs(batch)


def test_a_caption_without_nodes_is_named(oc_clip):
    from bindclip.graphs import collate_graphs

    batch = collate_graphs(graphs(), empty_as_caption=False)
    with pytest.raises(GraphFormatError, match="caption '' has no node"):
        oc_clip.encode_graphs(batch)


def test_every_parameter_gets_gradient_from_both_losses(oc_clip):
    """A detached path (a slot computed without grad, a mask applied after the cosine) would leave
    some binding or score parameter without gradient."""
    from bindclip.losses import OCClipLoss
    from bindclip.world import World, WorldConfig

    images, samples = World(WorldConfig(image_size=32, min_objects=2, max_objects=2)).batch(4, seed=0)
    batch = oc_clip.collate([s.graph for s in samples])
    oc_clip.zero_grad()
    out = OCClipLoss()(**oc_clip(images.float() / 255, batch))
    out["local_graph_loss"].backward(retain_graph=True)
    rel = oc_clip.score_head
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0
        for p in (rel.rel_in_subject.weight, rel.rel_out_object.weight, rel.beta, oc_clip.binding.to_k.weight)
    )
    out["contrastive_loss"].backward()
    dead = [n for n, p in oc_clip.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    # the image tower's final LayerNorm and projection feed only the pooled embedding, which OC-CLIP
    # does not score; the text tower's unused vocabulary rows are zero but the table is not
    assert set(dead) <= {"backbone.visual.ln_post.weight", "backbone.visual.ln_post.bias", "backbone.visual.proj"}, dead


def test_forward_with_concepts_reuses_node_encodings(oc_clip):
    from bindclip.graphs import collate_concepts
    from bindclip.models.backbone import encode_text

    gs = graphs()
    concepts = collate_concepts(gs)
    out = oc_clip(torch.randn(3, 3, 32, 32), oc_clip.collate(gs), concepts)
    direct = encode_text(oc_clip.backbone, oc_clip.tokenizer(concepts.phrases))
    assert torch.allclose(out["phrase_features"], direct, atol=1e-6)
    assert out["patch_features"].shape == (3, 16, 128) and out["image_features"].shape == (3, 128)
    assert out["phrase_owner"].tolist() == concepts.owner.tolist()
