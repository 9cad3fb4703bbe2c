import torch
import torch.nn.functional as F

from bindclip.graphs import SceneGraph, SGObject, collate_concepts
from bindclip.models import C2LIP, BackboneConfig, ClipConfig, cross_attention_pool_scores
from bindclip.models.reference import cross_attention_pool_loop


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_cross_attention_pool_equals_per_phrase_loop():
    patches, phrases = unit(5, 7, 12), unit(9, 12, seed=1)
    for temperature in (1.0, 10.0):
        fast = cross_attention_pool_scores(patches, phrases, temperature)
        slow = cross_attention_pool_loop(patches, phrases, temperature)
        assert fast.shape == (5, 9)
        assert torch.allclose(fast, slow, atol=1e-5)


def test_cross_attention_pool_gradients_match_the_loop():
    patches, phrases = unit(3, 4, 6).requires_grad_(), unit(5, 6, seed=1).requires_grad_()
    g1 = torch.autograd.grad(cross_attention_pool_scores(patches, phrases).square().sum(), [patches, phrases])
    g2 = torch.autograd.grad(cross_attention_pool_loop(patches, phrases).square().sum(), [patches, phrases])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g1, g2))


def test_c2lip_forward_and_plain_inference():
    torch.manual_seed(0)
    model = C2LIP(ClipConfig(BackboneConfig("bindclip-vit-tiny-32"))).eval()
    graphs = [
        SceneGraph([SGObject("circle", ("red",)), SGObject("square", ("blue",))], caption="c0"),
        SceneGraph(caption="a blur"),
    ]
    concepts = collate_concepts(graphs)
    assert concepts.phrases == ["red circle", "blue square", "a blur"]
    assert concepts.owner.tolist() == [0, 0, 1]
    images = torch.randn(2, 3, 32, 32)
    out = model(images, ["a red circle and a blue square", "a blur"], concepts.phrases, concepts.owner, concepts.ids)
    assert out["patch_features"].shape == (2, 16, 128)
    assert torch.allclose(out["patch_features"].norm(dim=-1), torch.ones(2, 16), atol=1e-5)
    assert out["phrase_features"].shape == (3, 128)
    # inference is the plain model: the pooled features equal encode_image's
    assert torch.allclose(out["image_features"], model.encode_image(images), atol=1e-5)
    phrases, texts = model.encode_phrases(["a", "b", "a"], ["a long caption of a red circle"])
    assert torch.allclose(phrases, model.encode_text(["a", "b", "a"]), atol=1e-6)
    assert torch.allclose(texts, model.encode_text(["a long caption of a red circle"]), atol=1e-6)
    assert set(model(images, ["x", "y"])) == {"image_features", "text_features", "logit_scale"}
