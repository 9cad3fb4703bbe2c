"""`bindclip parse --shards`: graphs written into img2dataset shards, resumable, and never parsed again."""

import json

import pytest

from bindclip.cli import main
from bindclip.train import load_config, train
from bindclip.train.shards import expand_urls
from conftest import write_img2dataset_shards


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


def members(folder) -> dict[str, list[tuple[str, bytes]]]:
    """Every output shard's (key, json member) pairs, in order."""
    import webdataset as wds

    return {
        t.name: [(r["__key__"], r.get("json")) for r in wds.tarfile_to_samples()([{"url": str(t)}])]
        for t in sorted(folder.glob("*.tar"))
    }


def shards_with_odd_records(root):
    """Four img2dataset shards, one with a record without caption and one with a torn json member."""
    import webdataset as wds

    pattern, captions = write_img2dataset_shards(root, n_shards=4, per_shard=5)
    with wds.TarWriter(str(root / "00004.tar")) as sink:
        sink.write({"__key__": "n", "jpg": b"x", "json": b'{"status": "success"}'})
        sink.write({"__key__": "m", "txt": b"a blue car", "json": b'{"caption": '})
        sink.write({"__key__": "k", "txt": b"a green car", "json": b'{"caption": "a green car"}'})
    return pattern.replace("00003}", "00004}")


def test_ray_local_writes_what_the_processes_write(tmp_path, ray_cluster):
    pattern = shards_with_odd_records(tmp_path / "in")
    assert main(["parse", "--shards", pattern, "-o", str(tmp_path / "procs"), "--n-process", "2"]) == 0
    assert main(["parse", "--shards", pattern, "-o", str(tmp_path / "ray"), "--ray", "local", "--n-process", "2"]) == 0
    assert members(tmp_path / "ray") == members(tmp_path / "procs")  # byte-identical json members, keys in order
    ray_summary, procs_summary = (json.loads((tmp_path / d / "annotate.json").read_text()) for d in ("ray", "procs"))
    assert ray_summary == procs_summary and (ray_summary["samples"], ray_summary["no_caption"]) == (23, 1)
    assert ray_summary["malformed_json"] == 1 and ray_summary["parser"] == "spacy" and ray_summary["failed"] == {}


def test_every_sample_annotated_once_when_an_actor_is_killed(tmp_path, ray_cluster):
    """A worker is killed while it parses a shard: Ray restarts it and the shard is written whole, once."""
    import os
    import signal
    import threading
    import time

    from bindclip.graphs.annotate import annotate_shards
    from bindclip.train.shards import expand_urls

    pattern, captions = write_img2dataset_shards(tmp_path / "in", n_shards=6, per_shard=400)
    out, killed = tmp_path / "out", []

    def kill_first_worker():  # a shard's temporary file names the pid of the worker writing it
        deadline = time.time() + 120
        while not killed and time.time() < deadline:
            for tmp in out.glob(".*.tar.tmp*"):
                pid = int(tmp.name.rsplit("tmp", 1)[1])
                if pid != os.getpid():
                    os.kill(pid, signal.SIGKILL)
                    killed.append((pid, tmp.name))
                    return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    result = annotate_shards(expand_urls(pattern), out, n_process=2, progress=False, ray_address="local")
    killer.join()
    assert killed, "no worker was caught mid-shard"
    got = members(out)
    assert sorted(got) == [f"{s:05d}.tar" for s in range(6)] and not list(out.glob(".*tmp*"))
    keys = [k for shard in got.values() for k, _ in shard]
    assert len(keys) == len(set(keys)) == len(captions) == result["samples"] == 2400
    assert [json.loads(m)["caption"] for shard in got.values() for _, m in shard] == captions


@pytest.mark.parametrize("engine", [["--n-process", "2"], ["--ray", "local", "--n-process", "2"]], ids=["procs", "ray"])
def test_a_shard_that_raises_is_recorded_the_rest_written_and_a_rerun_retries_it(tmp_path, capsys, engine, request):
    if "--ray" in engine:
        request.getfixturevalue("ray_cluster")
    pattern, _ = write_img2dataset_shards(tmp_path / "in", n_shards=3, per_shard=4)
    good = (tmp_path / "in" / "00001.tar").read_bytes()
    (tmp_path / "in" / "00001.tar").write_bytes(good[:700])  # torn mid-member, as a crashed download leaves it
    out = tmp_path / "out"
    assert main(["parse", "--shards", pattern, "-o", str(out), *engine]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: 1 shard(s) failed (00001.tar)") and "run again" in err
    summary = json.loads((out / "annotate.json").read_text())
    assert list(summary["failed"]) == ["00001.tar"] and summary["failed"]["00001.tar"]
    assert sorted(summary["shards"]) == ["00000.tar", "00002.tar"] and summary["samples"] == 8
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    (tmp_path / "in" / "00001.tar").write_bytes(good)
    assert main(["parse", "--shards", pattern, "-o", str(out), *engine]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    assert {k: after[k] for k in before} == before and "00001.tar" in after  # only the failed shard redone
    summary = json.loads((out / "annotate.json").read_text())
    assert summary["failed"] == {} and summary["samples"] == 12


def test_shards_read_through_a_pipe_keep_their_names(tmp_path):
    """`pipe:` inputs (an object store's CLI, say) are read by webdataset; the output keeps the shard's name."""
    pattern, _ = write_img2dataset_shards(tmp_path / "in", n_shards=2, per_shard=3)
    piped = "::".join(f"pipe:cat {tmp_path / 'in' / f'{s:05d}.tar'}" for s in range(2))
    assert main(["parse", "--shards", piped, "-o", str(tmp_path / "piped")]) == 0
    assert main(["parse", "--shards", pattern, "-o", str(tmp_path / "plain")]) == 0
    assert members(tmp_path / "piped") == members(tmp_path / "plain") and len(members(tmp_path / "plain")) == 2


def test_annotating_with_another_parser_into_the_same_folder_is_refused(tmp_path, capsys):
    pattern, _ = write_img2dataset_shards(tmp_path / "in", n_shards=1, per_shard=2)
    assert main(["parse", "--shards", pattern, "-o", str(tmp_path / "out")]) == 0
    assert main(["parse", "--shards", pattern, "-o", str(tmp_path / "out"), "--parser", "seq2seq:/x"]) == 2
    assert "annotated by parser 'spacy'" in capsys.readouterr().err
    from bindclip.graphs.parse import parser_identity

    same = [parser_identity(f"llm:m@http://{host}:8000/v1") for host in ("127.0.0.1", "127.0.0.2")]
    assert same[0] == same[1] != parser_identity("llm:other@http://127.0.0.1:8000/v1")  # the model, not the host


@pytest.mark.slow
def test_a_running_cluster_is_joined_by_address(tmp_path):
    """`ray start --head` on 127.0.0.1 (its own process group, stopped by the test), joined by HOST:PORT from
    a fresh `bindclip` process."""
    import os
    import secrets
    import signal
    import socket
    import subprocess
    import sys
    import time

    pytest.importorskip("ray")
    bin_dir = os.path.dirname(sys.executable)
    # a cluster by address turns token authentication on only where told; one token for head and driver
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = subprocess.Popen(
        [os.path.join(bin_dir, "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}"]
        + ["--num-cpus=2", "--include-dashboard=false", "--block"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        pattern, _ = write_img2dataset_shards(tmp_path / "in", n_shards=3, per_shard=4)
        assert main(["parse", "--shards", pattern, "-o", str(tmp_path / "procs")]) == 0
        cli = [os.path.join(bin_dir, "bindclip"), "parse", "--shards", pattern, "-o", str(tmp_path / "ray")]
        run = subprocess.run([*cli, "--ray", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        assert members(tmp_path / "ray") == members(tmp_path / "procs")
        cli[-1] = str(tmp_path / "auto")  # `--ray auto` finds the cluster through RAY_ADDRESS
        env["RAY_ADDRESS"] = f"127.0.0.1:{port}"
        run = subprocess.run([*cli, "--ray", "auto"], capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        assert members(tmp_path / "auto") == members(tmp_path / "procs")
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block: ray start stops what it started
        head.wait(60)


def test_ray_actors_share_an_llm_server(tmp_path, ray_cluster):
    """`--ray local --parser llm`: each actor asks the server for its shards' captions, once each, and the
    shards carry the server's graphs."""
    from llm_server import serve

    pattern, captions = write_img2dataset_shards(tmp_path / "in", n_shards=4, per_shard=5)
    answers = {c: {"objects": [{"name": "car", "attributes": [c.split()[-1]]}], "relations": []} for c in captions}
    with serve(answers, faults={captions[3]: ["bad_json"] * 4}) as server:
        llm = ["--parser", "llm", "--llm-url", server.url, "--llm-model", server.model, "--concurrency", "4"]
        out = tmp_path / "out"
        assert main(["parse", "--shards", pattern, "-o", str(out), "--ray", "local", *llm, "--llm-retries", "1"]) == 0
        asked = sorted(r["caption"] for r in server.log())
    assert asked == sorted(captions + [captions[3]])  # one request a caption, one retry for the faulty one
    graphs = [json.loads(m)["graph"] for shard in members(out).values() for _, m in shard]
    assert [g["objects"][0]["attributes"] for i, g in enumerate(graphs) if i != 3] == [
        [c.split()[-1]] for i, c in enumerate(captions) if i != 3
    ]
    summary = json.loads((out / "annotate.json").read_text())
    assert summary["llm_fallbacks"] == {"bad_json": 1} and summary["samples"] == 20
