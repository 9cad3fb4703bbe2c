import pytest

from bindclip.errors import ConfigError
from bindclip.methods import METHODS, Method, get_method, method_names
from bindclip.train import load_config


def test_every_method_is_registered_once_in_order():
    assert method_names() == ("clip", "siglip", "oc-clip", "c2lip", "oc-clip+c2lip", "clip-hn")
    assert all(isinstance(m, Method) and m.name == n for n, m in METHODS.items())


def test_unknown_method_names_the_registered_ones():
    with pytest.raises(ConfigError, match=r"model.method: 'negclip' is not one of clip, siglip, .*clip-hn"):
        load_config(None, ["model.method=negclip"])
    with pytest.raises(ConfigError):
        get_method("")


@pytest.mark.parametrize("name", method_names())
def test_each_method_builds_its_model_loss_and_batch(name):
    """The registry's contract on a real world batch: the text side the method makes feeds its forward,
    which returns finite `*_loss` terms that reach some parameter."""
    import torch

    from bindclip.train.data import WorldBatches
    from bindclip.train.loop import build_loss, build_model, forward_loss

    cfg = load_config(None, ["data.batch_size=6"], method=name, preset="world-small")
    torch.manual_seed(0)
    model = build_model(cfg)
    batch = WorldBatches(cfg, model.tokenizer)[0]
    losses = forward_loss(model, build_loss(cfg, model), batch, name, torch.device("cpu"))
    assert losses and all(k.endswith("_loss") and torch.isfinite(v) for k, v in losses.items())
    sum(losses.values()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_a_method_must_define_its_four_parts():
    class ModelOnly(Method):
        name = "model-only"

        def build_model(self, cfg):
            return None

    with pytest.raises(TypeError, match="abstract"):
        ModelOnly()


@pytest.mark.parametrize("name", ["c2lip", "oc-clip+c2lip"])
def test_concept_positives_by_text_or_by_owner(name):
    for choice, by_text in (("text", True), ("owner", False)):
        cfg = load_config(None, [f"loss.concept_positives={choice}"], method=name, preset="world-small")
        method = get_method(name)
        loss = method.build_loss(cfg, method.build_model(cfg), 0, 1)
        concepts = loss.concepts if hasattr(loss, "concepts") else loss
        assert concepts.match_phrase_text is by_text
    with pytest.raises(ConfigError, match="loss.concept_positives"):
        load_config(None, ["loss.concept_positives=both"], method=name, preset="world-small")
