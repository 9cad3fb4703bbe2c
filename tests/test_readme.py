"""Every open_clip model spec the README shows resolves: a known name, a known tag, one preprocessing, and
no QuickGELU mismatch between the name and the tag it names."""

import re
import warnings
from pathlib import Path

from bindclip.models.backbone import BackboneConfig, parse_model_spec

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def readme_specs() -> list[BackboneConfig]:
    specs = [parse_model_spec(m) for m in re.findall(r"(?<![\w/-])(ViT-[\w.-]+(?:@\w+)?:/[\w./-]+)", README)]
    encoders = re.findall(r"--encoder (ViT-[\w.-]+)(?:@(\w+))?", README)
    specs += [BackboneConfig(name=n, tag=t or None) for n, t in encoders]
    for block in re.findall(r"bindclip train[^\n]*", README.replace("\\\n", " ")):  # continued lines joined
        name = re.search(r"model\.backbone\.name=(\S+)", block)
        if name:
            tag = re.search(r"model\.backbone\.tag=(\S+)", block)
            specs.append(BackboneConfig(name=name.group(1), tag=tag.group(1) if tag else None, pretrained="w.pt"))
    return specs


def test_every_model_spec_in_the_readme_resolves():
    specs = readme_specs()
    assert len(specs) >= 6
    for spec in specs:
        pre = spec.resolved_preprocess()  # raises on an unknown name or tag, or tags that disagree
        assert pre.size and pre.mean and pre.resize_mode
        if spec.tag:
            from bindclip.models.backbone import model_config
            from bindclip.models.preprocess import warn_quick_gelu

            with warnings.catch_warnings():
                warnings.simplefilter("error")
                warn_quick_gelu(spec.name, spec.tag, model_config(spec))
