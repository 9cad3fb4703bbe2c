import pytest

from bindclip.train import ConfigError, load_config


def test_preset_file_method_and_overrides_in_order(tmp_path):
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text("optim:\n  lr: 0.01\nrun:\n  steps: 50\n")
    cfg = load_config(
        cfg_file,
        ["optim.lr=1e-4", "data.split=[attr-holdout:0.5]", "optim.backbone_lr=null", "data.world.image_size=32"],
        method="oc-clip",
        preset="world-small",
    )
    assert cfg.model.method == "oc-clip"
    assert cfg.optim.lr == 1e-4 and cfg.run.steps == 50  # override beats file beats preset
    assert cfg.model.backbone.name == "bindclip-vit-tiny-32"  # from the preset
    assert cfg.data.split == ["attr-holdout:0.5"] and cfg.data.world.image_size == 32
    assert cfg.data.world.max_objects == 2 and isinstance(cfg.data.world.shapes, tuple)
    assert load_config().model.method == "clip"  # bare defaults are valid


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=1", r"unknown key 'optim.lrr'"),
        ("model.backbone.nme=x", r"unknown key 'model.backbone.nme'"),
        ("run.steps=ten", r"run.steps must be a number"),
        ("run.steps=1.5", r"run.steps must be an integer"),
        ("optim.freeze_text=1", r"optim.freeze_text must be true or false"),
        ("model.method=blip", r"model.method: 'blip' is not one of"),
        ("data.world.image_size=8", r"image_size: 8 px is outside"),
        ("data.world.image_size=48", r"world renders 48 px images but bindclip-vit-tiny-64 takes 64"),
        ("data.image_size=48", r"data.image_size: 48 px, but bindclip-vit-tiny-64 takes 64 px"),
        (
            "model.backbone.name=ViT-L-14",
            r"ViT-L-14: its pretrained tags preprocess differently .*laion2b_s32b_b82k: mean "
            r"\(0.5, 0.5, 0.5\).*ViT-L-14@TAG:WEIGHTS",
        ),
        ("model.backbone.tag=nope", r"open_clip knows no pretrained tag 'nope' for bindclip-vit-tiny-64"),
        ("lr", r"expected section.key=value"),
    ],
)
def test_bad_keys_and_values_are_named(override, message):
    with pytest.raises((ConfigError, ValueError), match=message):
        load_config(None, [override])


def test_bad_files_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="missing.yaml: cannot read"):
        load_config(tmp_path / "missing.yaml")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"optim": {"warmpu": 3}}')
    with pytest.raises(ConfigError, match=r"wrong.json: unknown key 'optim.warmpu'"):
        load_config(wrong)


def test_the_world_follows_the_model_and_fine_tuning_lowers_the_tower_rate():
    """Unless set, the world renders at the backbone's input size (a preset's 32 px included), and
    pretrained towers get OC-CLIP's lower default rate while new modules keep the scratch rate."""
    cfg = load_config(None, ["model.backbone.name=ViT-B-16"], preset="world-small")
    assert cfg.data.world.image_size == 224 and cfg.model.backbone.preprocess.size == 224
    assert cfg.model.backbone.preprocess.mean == (0.48145466, 0.4578275, 0.40821073)
    assert (cfg.optim.lr, cfg.optim.backbone_lr) == (1e-3, 1e-3)  # from scratch: one rate
    tuned = load_config(None, ["model.backbone.name=ViT-B-16-SigLIP", "model.backbone.pretrained=/w.pt"])
    assert (tuned.optim.lr, tuned.optim.backbone_lr) == (1e-3, 1e-5)
    pre = tuned.model.backbone.preprocess
    assert (pre.mean, pre.std, pre.resize_mode) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "squash")
    assert load_config(None, []).model.backbone.preprocess.mean == (0.0, 0.0, 0.0)  # bindclip's tiny configs


def test_resume_keeps_the_runs_config_and_names_a_contradiction(tmp_path):
    import json

    from bindclip.train.config import resume_config

    run = tmp_path / "config.json"
    saved = load_config(
        None, ["data.source=wds", "data.shards=/d/{0..3}.tar", "run.steps=10"], method="oc-clip", preset="world-small"
    )
    run.write_text(json.dumps(saved.to_dict()))
    bare = resume_config(run)  # no flags repeated: still the shard run it was, not the world
    assert bare.data.source == "wds" and bare.model.method == "oc-clip" and bare.to_dict() == saved.to_dict()
    longer = resume_config(run, None, ["run.steps=20"], method="oc-clip")
    assert longer.run.steps == 20 and longer.data.shards == "/d/{0..3}.tar"
    with pytest.raises(ConfigError, match=r"--resume: model.method is 'clip' here but 'oc-clip' in .*config.json"):
        resume_config(run, None, [], method="clip")
    with pytest.raises(ConfigError, match=r"--resume: optim.lr is 0.1 here"):
        resume_config(run, None, ["optim.lr=0.1"])
