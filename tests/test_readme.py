"""What the README and the pages under docs/ show works: every open_clip model spec resolves (a known name,
a known tag, one preprocessing, no QuickGELU mismatch between the name and the tag it names), every
`bindclip` command parses with its config keys known, every docs page is linked from the README and every
link to a heading finds it."""

import re
import shlex
import warnings
from pathlib import Path

from bindclip.models.backbone import BackboneConfig, parse_model_spec

ROOT = Path(__file__).resolve().parents[1]
README = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


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


# ---- every command shown in the README and docs/ parses --------------------------------------------
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shown_commands() -> list[tuple[str, str]]:
    """(page, command line) for each `bindclip ...` line (continuations joined) in the pages' bash blocks."""
    out = []
    for page in DOCS:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.split(r"\s+#\s", line)[0].strip()
                found = re.search(r"(?:^|\s)(?:-m )?bindclip (.*)$", line)
                if found and not line.startswith(("pip", "python")):
                    out.append((page.name, found.group(1)))
    return out


def synopsis_to_argv(text: str) -> list[str]:
    """A synopsis as one concrete command: optional [...] groups dropped, {a,b} alternatives and `…`
    placeholders filled with the first choice and a word."""
    while re.search(r"\[[^\[\]]*\]", text):
        text = re.sub(r"\s*\[[^\[\]]*\]", "", text)
    text = re.sub(r"(?<![\"'\w/]){([\w-]+),[^}]*}", r"\1", text).replace("…", "X")
    return [word for word in shlex.split(text) if word != "..."]  # "and so on"


def known_config_keys() -> set[str]:
    from bindclip.train.config import TrainConfig, _leaves

    return set(_leaves(TrainConfig().to_dict()))


def test_every_command_in_the_readme_and_docs_parses():
    from bindclip.cli import parse_args
    from bindclip.probes.suite import Sizes

    keys, sizes = known_config_keys(), set(Sizes.__dataclass_fields__)
    commands = shown_commands()
    assert len(commands) >= 40 and {p for p, _ in commands} >= {"README.md", "cli.md", "scaling.md"}
    for page, text in commands:
        argv = synopsis_to_argv(text)
        try:
            args = parse_args(argv)
        except SystemExit:
            raise AssertionError(f"{page}: `bindclip {text}` does not parse") from None
        for override in getattr(args, "overrides", None) or getattr(args, "items", None) or []:
            if argv[0] in ("train", "demo", "study") and "=" in override:
                assert override.split("=")[0] in keys, f"{page}: `bindclip {text}`: unknown key in {override}"
        for item in getattr(args, "set", None) or []:
            assert item.split("=")[0] in sizes, f"{page}: `bindclip {text}`: unknown --set {item}"


# ---- the README is a manual: short, and every page under docs/ reachable from it -------------------------
def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(), re.M):
        a = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(a if a not in seen else f"{a}-{seen[a]}")
        seen[a] = seen.get(a, 0) + 1
    return out


def test_the_readme_is_short_and_links_every_docs_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 400
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text)  # dated timings live in docs/results.md
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)", text))
    assert linked >= {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}


def test_every_link_to_a_page_or_heading_resolves():
    for page in DOCS:
        for target, anchor in re.findall(r"\]\(([\w./-]*\.md)?(?:#([\w-]+))?\)", page.read_text()):
            path = (page.parent / target).resolve() if target else page
            assert path.is_file(), f"{page.name}: link to {target}"
            if anchor:
                assert anchor in anchors(path), f"{page.name}: no heading #{anchor} in {path.name}"
