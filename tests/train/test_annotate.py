"""`bindclip parse --shards`: graphs written into img2dataset shards, resumable, and never parsed again."""

import json

import pytest
from test_shards import write_img2dataset_shards

from bindclip.cli import main
from bindclip.train import load_config, train
from bindclip.train.shards import expand_urls


def shard_jsons(path):
    import webdataset as wds

    return [json.loads(r["json"]) for r in wds.tarfile_to_samples()([{"url": str(path)}])]


@pytest.mark.parametrize("n_process", [1, 2])
def test_annotate_writes_each_samples_graph_and_resumes(tmp_path, n_process):
    pattern, captions = write_img2dataset_shards(tmp_path / "in", n_shards=3, per_shard=4)
    out = tmp_path / "out"
    assert main(["parse", "--shards", pattern, "-o", str(out), "--n-process", str(n_process)]) == 0
    records = [j for u in expand_urls(pattern) for j in shard_jsons(out / u.split("/")[-1])]
    assert [r["caption"] for r in records] == captions  # order and every sample kept
    assert all(r["graph"]["objects"][0]["attributes"] == ["red"] and r["status"] == "success" for r in records)
    summary = json.loads((out / "annotate.json").read_text())
    assert (summary["samples"], summary["empty_graphs"], summary["no_caption"]) == (12, 0, 0)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    (out / "00001.tar").unlink()  # an interrupted pass: only the missing shard is redone
    assert main(["parse", "--shards", pattern, "-o", str(out)]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    assert after["00000.tar"] == before["00000.tar"] and "00001.tar" in after


def test_training_on_annotated_shards_never_loads_a_parser(tmp_path, monkeypatch):
    pattern, _ = write_img2dataset_shards(tmp_path / "in", n_shards=2, per_shard=8)
    out = tmp_path / "out"
    assert main(["parse", "--shards", pattern, "-o", str(out)]) == 0
    import bindclip.graphs.parse as parse

    def no_parser(*a, **k):
        raise AssertionError("a parser was built although every sample carries its graph")

    monkeypatch.setattr(parse, "SpacyParser", no_parser)
    cfg = load_config(
        None,
        [
            "data.source=wds",
            f"data.shards={out}/{{00000..00001}}.tar",
            "data.workers=0",
            "data.batch_size=4",
            "run.steps=3",
            "model.binding.dim=32",
            "model.binding.heads=2",
        ],
        method="oc-clip",
        preset="world-small",
    )
    assert train(cfg, tmp_path / "run", progress=False)["step"] == 3


def test_a_malformed_json_member_is_kept_unannotated_and_counted(tmp_path):
    import webdataset as wds

    (tmp_path / "in").mkdir()
    with wds.TarWriter(str(tmp_path / "in" / "00000.tar")) as sink:
        sink.write({"__key__": "a", "txt": b"a red car", "json": b'{"caption": "a red car"}'})
        sink.write({"__key__": "b", "txt": b"a blue car", "json": b'{"caption": '})  # torn by a crash
    out = tmp_path / "out"
    assert main(["parse", "--shards", str(tmp_path / "in" / "00000.tar"), "-o", str(out)]) == 0
    records = list(wds.tarfile_to_samples()([{"url": str(out / "00000.tar")}]))
    assert json.loads(records[0]["json"])["graph"]["objects"] and records[1]["json"] == b'{"caption": '
    summary = json.loads((out / "annotate.json").read_text())
    assert (summary["samples"], summary["malformed_json"], summary["no_caption"]) == (2, 1, 0)
