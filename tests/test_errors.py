"""Every bad input the README mentions, and more, through the command line: one line on stderr that
starts with `error:` and names what to fix, exit status 2, no traceback."""

import io
import json
import sys
import tarfile

import pytest
import torch

from bindclip.cli import main
from bindclip.errors import BindclipError, ConfigError, MissingFileError, SpecError
from bindclip.train import load_config

TINY_TRAIN = ["train", "--preset", "world-small", "run.steps=1", "data.batch_size=4"]


def write(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def garbage_shard(path):
    """A tar whose only sample has a corrupt image and a json that is not JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, data in (("0.jpg", b"not an image"), ("0.json", b"{oops")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def sugarcrepe_with_bad_file(folder):
    for split in ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_obj"):
        write(folder / f"{split}.json", "{}")
    write(folder / "swap_att.json", "{")
    return folder


def junk_checkpoint(run):
    """A run folder whose config is fine and whose checkpoint is not a checkpoint."""
    write(run / "config.json", json.dumps(load_config(None, [], preset="world-small").to_dict()))
    return write(run / "checkpoints" / "x.pt", b"junk")


def wrong_weights(path):
    torch.save({"visual.conv1.weight": torch.zeros(3)}, path)
    return str(path)


# (case id, argv built from tmp_path, a fragment the one line must hold)
CASES = [
    (
        "captions not utf-8",
        lambda t: ["parse", write(t / "bad.txt", b"ok\n\xff\xfe\n"), "-o", str(t / "o.jsonl")],
        "bad.txt:2",
    ),
    (
        "captions csv without column",
        lambda t: ["parse", write(t / "c.csv", "text\nhi\n"), "-o", str(t / "o")],
        "no 'caption' column",
    ),
    ("captions file missing", lambda t: ["parse", str(t / "none.txt"), "-o", str(t / "o.jsonl")], "none.txt"),
    ("parse without input", lambda t: ["parse", "-o", str(t / "o.jsonl")], "give a captions file"),
    ("parse shards missing", lambda t: ["parse", "--shards", str(t / "{0..1}.tar"), "-o", str(t / "o")], "not found"),
    (
        "unknown parser",
        lambda t: ["parse", write(t / "c.txt", "a dog\n"), "-o", str(t / "o"), "--parser", "nope"],
        "unknown parser",
    ),
    (
        "llm server unreachable",
        lambda t: [
            "parse",
            write(t / "c.txt", "a dog\n"),
            "-o",
            str(t / "o"),
            *("--parser", "llm", "--llm-url", "http://127.0.0.1:9/v1", "--llm-model", "m", "--llm-retries", "0"),
        ],
        "cannot reach the LLM server",
    ),
    (
        "llm parser without server",
        lambda t: ["parse", write(t / "c.txt", "a dog\n"), "-o", str(t / "o"), "--parser", "llm"],
        "--llm-url",
    ),
    (
        "llm spec malformed",
        lambda t: ["parse", write(t / "c.txt", "a dog\n"), "-o", str(t / "o"), "--parser", "llm:model"],
        "llm:MODEL@URL",
    ),
    (
        "ray cluster address dead",
        lambda t: ["parse", "--shards", garbage_shard(t / "s.tar"), "-o", str(t / "o"), "--ray", "127.0.0.1:9"],
        "no Ray cluster answers",
    ),
    (
        "graphs jsonl malformed",
        lambda t: [
            "parse-eval",
            write(t / "g.csv", 'caption,scene_graph\na dog,"( dog )"\n'),
            "--graphs",
            write(t / "g.jsonl", '{"caption": "a dog", "objects": 3}\n'),
        ],
        "g.jsonl",
    ),
    ("unknown config key", lambda t: [*TINY_TRAIN, "optim.lrr=1", "--out", str(t / "r")], "'optim.lrr'"),
    ("bad config value", lambda t: [*TINY_TRAIN, "run.steps=abc", "--out", str(t / "r")], "run.steps"),
    ("override without key", lambda t: [*TINY_TRAIN, "=3", "--out", str(t / "r")], "section.key=value"),
    ("unknown backbone", lambda t: [*TINY_TRAIN, "model.backbone.name=NoSuchNet", "--out", str(t / "r")], "NoSuchNet"),
    ("config file missing", lambda t: [*TINY_TRAIN, str(t / "cfg.yaml"), "--out", str(t / "r")], "cfg.yaml"),
    (
        "config yaml malformed",
        lambda t: [*TINY_TRAIN, write(t / "cfg.yaml", "run: [1,\n"), "--out", str(t / "r")],
        "not valid YAML",
    ),
    (
        "config json malformed",
        lambda t: [*TINY_TRAIN, write(t / "cfg.json", "{"), "--out", str(t / "r")],
        "not valid JSON",
    ),
    ("two config files", lambda t: [*TINY_TRAIN, "a.yaml", "b.yaml", "--out", str(t / "r")], "one config file"),
    ("resume without run", lambda t: [*TINY_TRAIN, "--resume", "--out", str(t / "r")], "config.json"),
    ("shards not set", lambda t: [*TINY_TRAIN, "data.source=wds", "--out", str(t / "r")], "data.shards"),
    (
        "shard malformed",
        lambda t: [
            *TINY_TRAIN,
            "data.source=wds",
            f"data.shards={garbage_shard(t / 's.tar')}",
            "data.workers=0",
            "--out",
            str(t / "r"),
        ],
        "no usable record",
    ),
    (
        "shards missing (default workers)",
        lambda t: [*TINY_TRAIN, "data.source=wds", f"data.shards={t}/no/such/{{0..1}}.tar", "--out", str(t / "r")],
        "none of the 2 shard(s) exists",
    ),
    (
        "shards unusable (default workers: the worker's error unwrapped)",
        lambda t: [
            *TINY_TRAIN,
            "data.source=wds",
            f"data.shards={garbage_shard(t / 's0.tar')}::{garbage_shard(t / 's1.tar')}",
            "--out",
            str(t / "r"),
        ],
        "data.shards: no usable record",
    ),
    ("world export negative count", lambda t: ["world", "export", "--out", str(t / "w"), "--n", "-5"], "--n: -5"),
    ("export without checkpoint", lambda t: ["export", str(t), "-o", str(t / "m")], "config.json"),
    (
        "unknown benchmark",
        lambda t: ["eval", "--model", "bindclip-vit-tiny-32", "--bench", "nope"],
        "unknown benchmark",
    ),
    (
        "benchmark path missing",
        lambda t: ["eval", "--model", "bindclip-vit-tiny-32", "--bench", f"sugarcrepe:{t / 'sc'}"],
        "does not exist",
    ),
    (
        "benchmark json malformed",
        lambda t: [
            "eval",
            "--model",
            "bindclip-vit-tiny-32",
            "--bench",
            f"sugarcrepe:{sugarcrepe_with_bad_file(t)}:{t}",
        ],
        "swap_att.json",
    ),
    ("model name unknown", lambda t: ["eval", "--model", "NoSuchNet", "--bench", "world"], "NoSuchNet"),
    (
        "weights file missing",
        lambda t: ["eval", "--model", f"bindclip-vit-tiny-32:{t / 'w.pt'}", "--bench", "world"],
        "w.pt",
    ),
    (
        "weights do not fit",
        lambda t: ["eval", "--model", f"bindclip-vit-tiny-32:{wrong_weights(t / 'w.pt')}", "--bench", "world"],
        "w.pt",
    ),
    (
        "checkpoint not a checkpoint",
        lambda t: ["eval", "--model", junk_checkpoint(t / "run"), "--bench", "world"],
        "x.pt",
    ),
    (
        "probe size not a number",
        lambda t: ["probe", "all", "--encoder", "minilm", "--out", str(t / "p"), "--set", "probe_epochs=abc"],
        "probe_epochs",
    ),
    (
        "probe size unknown",
        lambda t: ["probe", "all", "--encoder", "minilm", "--out", str(t / "p"), "--set", "probe_epoch=3"],
        "probe_epoch",
    ),
    ("demo run unknown", lambda t: ["demo", "--out", str(t / "d"), "--runs", "clip,nope"], "nope"),
    ("report folder empty", lambda t: ["report", str(t)], "no demo.json, study.json, diagnose.json or training run"),
    ("diagnose model unknown", lambda t: ["diagnose", "--model", "NoSuchNet", "--out", str(t / "d")], "NoSuchNet"),
    (
        "diagnose weights missing",
        lambda t: ["diagnose", "--model", f"bindclip-vit-tiny-32:{t / 'w.pt'}", "--out", str(t / "d")],
        "w.pt",
    ),
    ("report json malformed", lambda t: ["report", str(t)] if write(t / "demo.json", "{") else [], "demo.json"),
    ("world colour unknown", lambda t: ["world", "preview", "-o", str(t / "p.png"), "--colours", "red,mauve"], "mauve"),
    ("sugarcrepe folder missing", lambda t: ["eval-graphs", str(t / "sc")], "sc"),
]


@pytest.mark.parametrize("make_argv, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_failure_is_one_line_and_exit_2(tmp_path, capsys, make_argv, fragment):
    argv = make_argv(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]  # progress bars aside
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert err.splitlines()[-1] == lines[0]  # on its own line, last
    assert fragment in lines[0]


def test_ray_option_without_ray_installed_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where the extra is not installed
    argv = ["parse", "--shards", garbage_shard(tmp_path / "s.tar"), "-o", str(tmp_path / "o"), "--ray"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --ray needs Ray: pip install 'bindclip[ray]'"]


def test_every_user_facing_error_is_a_bindclip_error_and_its_builtin():
    assert issubclass(ConfigError, BindclipError) and issubclass(ConfigError, ValueError)
    assert issubclass(SpecError, BindclipError) and issubclass(MissingFileError, FileNotFoundError)


def test_malformed_shard_counts_what_it_skipped(tmp_path, capsys):
    """The shard error names the skips (nothing dropped silently)."""
    argv = [
        *TINY_TRAIN,
        "data.source=wds",
        f"data.shards={garbage_shard(tmp_path / 's.tar')}",
        "data.workers=0",
        "model.method=oc-clip",
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert "skipped: {'malformed json': 1}" in line, line
