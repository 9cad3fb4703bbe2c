import json

import pytest
import torch

from bindclip.models import BackboneConfig, CheckpointError, create_backbone, image_tokens, joint_space_tokens
from bindclip.models.backbone import get_tokenizer, load_weights


def test_small_config_tokens_at_a_chosen_block():
    model = create_backbone(BackboneConfig("bindclip-vit-tiny-32"))
    x = torch.randn(2, 3, 32, 32)
    pooled, (l2, last) = image_tokens(model.visual, x, [-3, -1])
    assert l2.shape == last.shape == (2, 16, 128)  # 4 x 4 patches of 8 px, no CLS
    assert not torch.allclose(l2, last)
    assert torch.allclose(pooled, model.visual(x), atol=1e-5)  # one pass gives the usual embedding too
    # CLS-pooled ViT: joint-space tokens are ln_post + proj of each patch, like the pooled CLS
    joint = joint_space_tokens(model.visual, last)
    assert joint.shape == (2, 16, 128)
    assert torch.allclose(joint[:, 3], model.visual.ln_post(last[:, 3]) @ model.visual.proj, atol=1e-5)
    assert get_tokenizer(BackboneConfig("bindclip-vit-tiny-32"))(["a red circle"]).shape == (1, 32)


def test_timm_map_head_value_path(tmp_path):
    """For an attention-pooled (SigLIP-style MAP) tower, each token's projection equals the pooled output
    the head gives when it sees that one patch alone (attention is then one-hot)."""
    cfg = {
        "embed_dim": 192,
        "vision_cfg": {
            "image_size": 224,
            "timm_model_name": "vit_tiny_patch16_224",
            "timm_pool": "map",
            "timm_proj": "none",
        },
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
    }
    path = tmp_path / "tiny-map.json"
    path.write_text(json.dumps(cfg))
    model = create_backbone(BackboneConfig(config_file=str(path))).eval()
    x = torch.randn(1, 3, 224, 224)
    pooled, (last,) = image_tokens(model.visual, x, [-1])
    assert torch.allclose(pooled, model.visual(x), atol=1e-5)
    joint = joint_space_tokens(model.visual, last)
    trunk = model.visual.trunk
    normed = trunk.norm(last)
    alone = trunk.attn_pool(normed[:, 5:6])
    assert torch.allclose(joint[:, 5], alone, atol=1e-5)


def test_local_checkpoint_round_trip_and_errors(tmp_path):
    cfg = BackboneConfig("bindclip-vit-tiny-32")
    a, b = create_backbone(cfg), create_backbone(cfg)
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in a.state_dict().items()}}, path)
    load_weights(b, path)
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    c = create_backbone(BackboneConfig("bindclip-vit-tiny-32", pretrained=str(path)))
    assert torch.equal(c.logit_scale, a.logit_scale)

    other = create_backbone(BackboneConfig("bindclip-vit-tiny-64"))
    with pytest.raises(CheckpointError, match=r"ckpt.pt: parameter '.*' has shape"):
        load_weights(other, path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_weights(other, tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a loadable"):
        load_weights(other, tmp_path / "junk.pt")


def test_unknown_model_name_is_named():
    with pytest.raises(ValueError, match="unknown open_clip model 'ViT-Nope'"):
        create_backbone(BackboneConfig("ViT-Nope"))


@pytest.mark.parametrize("custom_text", [False, True])
def test_text_encoding_stops_at_the_last_eot_exactly(tmp_path, custom_text):
    from bindclip.models.backbone import encode_text, model_config

    cfg = model_config(BackboneConfig("bindclip-vit-tiny-32"))
    cfg["custom_text"] = custom_text
    path = tmp_path / "m.json"
    path.write_text(json.dumps(cfg))
    bb = BackboneConfig(config_file=str(path))
    model = create_backbone(bb)
    tokens = get_tokenizer(bb)(["a red circle", "a large blue square to the left of a small green cross", ""])
    assert tokens.shape[1] == 32 and int(tokens.argmax(-1).max()) < 15
    assert torch.allclose(encode_text(model, tokens), model.encode_text(tokens, normalize=True), atol=1e-6)


@pytest.mark.parametrize(
    "name", ["bindclip-vit-tiny-32", "bindclip-vit-tiny-64", "bindclip-siglip-tiny-32", "bindclip-siglip-tiny-64"]
)
def test_bindclip_configs_are_plain_open_clip_configs(name):
    """Registered with open_clip, they build there too (open_clip_train can train them); their raw-pixel
    preprocessing lives in bindclip, not in the JSON."""
    import open_clip

    assert open_clip.create_model(name).visual.image_size[0] in (32, 64)
    assert BackboneConfig(name).resolved_preprocess().mean == (0.0, 0.0, 0.0)
