import math

import pytest

from bindclip.errors import ConfigError
from bindclip.methods import method_names
from bindclip.study import STUDIES, get_study
from bindclip.study.run import study_config
from bindclip.train import train
from bindclip.world.benchmarks import TASKS


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_variant_of_every_study_is_a_valid_config(name):
    study = STUDIES[name]
    # eight seeds for a from-scratch question; a fine-tune study's five (the papers had one pretrained model)
    assert study.seeds >= (5 if study.pretrain is not None else 8)
    assert all(m in TASKS + ("zero-shot", "retrieval-r@1") for m in study.metrics)
    for budget in study.budgets:
        for v in study.variants:
            cfg = study_config(study, budget, v, seed=3)
            assert cfg.model.method == v.method in method_names() and cfg.run.seed == 3
    variants = {v.name: v for v in study.variants}
    for sw in study.sweeps:
        key = sw.key.split(".")
        for name in sw.variants:
            for value in sw.values:
                cfg = study_config(study, sw.budget, variants[name], 0, extra=(f"{sw.key}={value}",))
                assert getattr(getattr(cfg, key[0]), key[1]) == value
    for c in study.claims:
        assert {c.variant, c.reference} <= set(variants) and c.metric in study.metrics


def test_variants_set_what_they_name():
    local = get_study("local-loss")
    no_shared = study_config(local, "small", local.variants[2], 0)
    assert no_shared.loss.local_weight == 0 and no_shared.loss.mask_shared_objects
    assert (no_shared.data.batch_size, no_shared.run.steps) == (32, 120)
    assert study_config(local, "demo", local.variants[0], 0).run.steps == 360
    att = get_study("attention")
    assert [study_config(att, "demo", v, 0).model.binding.n_default for v in att.variants[:3]] == [4, 1, 0]
    assert study_config(att, "demo", att.variants[3], 0).model.binding.attention == "standard"
    noise = get_study("parser-noise")
    assert [study_config(noise, "demo", v, 0).data.graph_noise for v in noise.variants] == [0.0, 0.1, 0.2, 0.4]
    assert [v.method for v in get_study("baselines").variants] == ["clip", "clip-hn", "c2lip", "oc-clip"]
    with pytest.raises(ConfigError, match="choose one of local-loss"):
        get_study("nope")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(STUDIES))
def test_every_variant_trains(name, tmp_path):
    study = STUDIES[name]
    for v in study.variants:
        cfg = study_config(study, next(iter(study.budgets)), v, 0, ["run.steps=1", "data.batch_size=8"])
        metrics = train(cfg, tmp_path / v.name, progress=False)
        assert metrics["step"] == 1 and math.isfinite(metrics["loss"]), v.name
