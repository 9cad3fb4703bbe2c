import json

from bindclip.cli import main


def test_parse_writes_one_line_per_caption(tmp_path, capsys):
    src = tmp_path / "c.txt"
    src.write_text("a red circle to the left of a blue square\n\n?!\n" + "a dog " * 900 + "\n")
    out = tmp_path / "g.jsonl"
    assert main(["parse", str(src), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert first == {
        "caption": "a red circle to the left of a blue square",
        "objects": [{"name": "circle", "attributes": ["red"]}, {"name": "square", "attributes": ["blue"]}],
        "relations": [{"subject": 0, "predicate": "to the left of", "object": 1}],
    }
    assert "captions/s" in capsys.readouterr().err


def test_parse_bad_input_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("text\nhi\n")
    assert main(["parse", str(bad), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "bad.csv: no 'caption' column" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_parse_eval_on_graphs_and_on_the_fly(tmp_path, capsys):
    gold = tmp_path / "gold.csv"
    gold.write_text(
        'caption,scene_graph\na man riding a horse,"( man , ride , horse )"\nthe ball is red,"( ball , is , red )"\n'
    )
    res = tmp_path / "r.json"
    assert main(["parse-eval", str(gold), "--json", str(res)]) == 0
    scores = json.loads(res.read_text())
    assert scores["spice_f1"] == 100.0 and scores["n"] == 2
    assert "spice-style F1" in capsys.readouterr().out
    graphs = tmp_path / "g.jsonl"
    assert main(["parse", str(gold), "-o", str(graphs), "--cache", str(tmp_path / "cache.jsonl")]) == 0
    assert main(["parse-eval", str(gold), "--graphs", str(graphs), "--json", str(res)]) == 0
    assert json.loads(res.read_text())["micro"]["f1"] == 100.0


def test_the_names_help_lists_are_the_registries():
    from bindclip.cli import DEMO_RUNS, METHOD_NAMES, STUDY_NAMES
    from bindclip.demo import RUNS
    from bindclip.methods import method_names
    from bindclip.study import STUDIES

    assert (METHOD_NAMES, STUDY_NAMES, DEMO_RUNS) == (method_names(), tuple(STUDIES), tuple(RUNS))


def test_help_at_every_level_imports_neither_torch_nor_open_clip():
    """`bindclip --help` answers at once: no command's module is imported before that command runs."""
    import subprocess
    import sys

    from bindclip.cli import build_parser

    ap = build_parser()
    commands = ap._subparsers._group_actions[0].choices  # argparse keeps the subcommands here
    argvs = [["--help"]] + [[c, "--help"] for c in commands]
    for name, parser in commands.items():
        nested = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        argvs += [[name, action, "--help"] for group in nested for action in group.choices]
    probe = (
        "import sys\nfrom bindclip.cli import main\n"
        f"for argv in {argvs!r}:\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'open_clip', 'spacy') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]" and len(argvs) > 15


def test_parse_of_a_text_file_does_not_import_open_clip(tmp_path):
    """Parsing needs spaCy, nothing of the models (spaCy's thinc imports torch where it is installed)."""
    import subprocess
    import sys

    (tmp_path / "c.txt").write_text("a red car next to a tree\n")
    probe = (
        "import sys\nfrom bindclip.cli import main\n"
        f"assert main(['parse', {str(tmp_path / 'c.txt')!r}, '-o', {str(tmp_path / 'g.jsonl')!r}]) == 0\n"
        "print('open_clip' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip().splitlines()[-1] == "False", run.stderr[-2000:]
