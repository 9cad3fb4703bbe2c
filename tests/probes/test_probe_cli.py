import json

from bindclip.cli import main


def test_probe_all_on_a_bindclip_image_tower(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--preset",
                "world-small",
                "--method",
                "clip",
                "run.steps=1",
                "run.save_every=1",
                "data.batch_size=8",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    out = tmp_path / "probe"
    small = [
        "--set",
        "probe_epochs=100",
        "--set",
        "complexity_epochs=20",
        "--set",
        "fractions=0.5,0.9",
        "--set",
        "families=linear,mlp-128,product",
        "--set",
        "intervention_scenes=200",
    ]
    assert main(["probe", "all", "--encoder", str(run), "--quick", "--out", str(out), *small]) == 0
    res = json.loads((out / "results.json").read_text())
    assert {"probes", "additivity", "complexity", "interventions", "sizes"} <= set(res)
    assert res["scenes"] == "world8x8@32" and res["n_scenes"] == 64 * 64 and res["encoder"] == "run-image"
    assert (out / "complexity.png").stat().st_size > 0 and (out / "mds.png").stat().st_size > 0
    assert list((out / "embeddings").glob("*.npy"))
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= summary["object_acc"] <= 1 and res["sizes"]["fractions"] == [0.5, 0.9]
    assert list(res["complexity"]["curves"]) == ["linear", "mlp-128", "product"]
    assert main(["probe", "linear", "--encoder", str(run), "--quick", "--out", str(out), *small]) == 0  # cached
    assert main(["probe", "linear", "--encoder", str(run), "--out", str(out), "--set", "epochs=3"]) == 2
    assert set(json.loads((out / "linear.json").read_text())) >= {"probes"}


def test_probe_from_scratch_writes_the_coverage_curve(tmp_path):
    assert (
        main(
            [
                "probe",
                "from-scratch",
                "--out",
                str(tmp_path),
                "--coverage",
                "0.5,0.9",
                "--seeds",
                "2",
                "--steps",
                "3",
                "--complexity",
                "--set",
                "complexity_epochs=5",
                "--set",
                "fractions=0.5",
                "--set",
                "families=linear,product",
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "coverage.json").read_text())
    assert [p["coverage"] for p in res["points"]] == [0.5, 0.9] and len(res["points"][0]["per_seed"]) == 2
    assert (tmp_path / "coverage.png").is_file() and res["reported"] == "final step"
    assert res["complexity"]["coverage"] == 0.9 and list(res["complexity"]["curves"]) == ["linear", "product"]
    assert (res["complexity"]["sizes"]["max_train"], res["complexity"]["sizes"]["batch_size"]) == (16384, 1024)
    assert (tmp_path / "complexity_scratch.png").is_file()
    assert (res["config"]["tied"], res["config"]["factored"]) == (False, False)  # the paper's two towers

    from bindclip.probes.suite import attach_scratch

    results, out = {}, tmp_path / "all"
    out.mkdir()
    attach_scratch(results, tmp_path, out)
    assert results["from_scratch"]["points"] == res["points"] and results["plots"] == ["coverage.png"]
    assert (out / "coverage.png").is_file()


def test_from_scratch_reuses_finished_runs_with_the_same_config(tmp_path):
    argv = ["probe", "from-scratch", "--out", str(tmp_path), "--coverage", "0.5", "--seeds", "2", "--steps", "3"]
    assert main(argv) == 0
    first = json.loads((tmp_path / "coverage.json").read_text())["points"][0]
    model = tmp_path / "runs" / "coverage-0.5" / "seed-1" / "model.pt"
    written = model.stat().st_mtime_ns
    assert main(argv) == 0
    again = json.loads((tmp_path / "coverage.json").read_text())["points"][0]
    assert again["reused"] == 2 and first["reused"] == 0
    assert again["per_seed"] == first["per_seed"] and again["seconds"] == first["seconds"]
    assert model.stat().st_mtime_ns == written
    saved = model.with_name("result.json")  # saved before a setting existed: it had that setting's default
    doc = json.loads(saved.read_text())
    del doc["config"]["swap_negatives"]
    saved.write_text(json.dumps(doc))
    assert main(argv) == 0 and model.stat().st_mtime_ns == written
    assert main(argv[:-1] + ["4"]) == 0  # another step count is another run: trained, not reused
    assert json.loads((tmp_path / "coverage.json").read_text())["points"][0]["reused"] == 0
    assert model.stat().st_mtime_ns != written


def test_from_scratch_options_set_the_architecture(tmp_path, capsys):
    argv = ["probe", "from-scratch", "--coverage", "0.5", "--seeds", "1", "--steps", "2"]
    assert main(argv + ["--out", str(tmp_path / "f"), "--factored", "--arch", "width=32", "--arch", "layers=1"]) == 0
    cfg = json.loads((tmp_path / "f" / "coverage.json").read_text())["config"]
    assert (cfg["tied"], cfg["factored"], cfg["width"], cfg["layers"]) == (True, True, 32, 1)
    assert main(argv + ["--out", str(tmp_path / "g"), "--arch", "depth=3"]) == 2
    assert "depth" in capsys.readouterr().err
