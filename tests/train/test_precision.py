"""The GPU path checked on CPU: bf16 autocast and torch.compile train every method, with the fp32 run's
losses (bf16: within 2 %; compiled: to 1e-4)."""

import json

import pytest

from bindclip.errors import ConfigError
from bindclip.methods import method_names
from bindclip.train import load_config, train
from conftest import TINY_TRAINING as TINY


def losses(method: str, extra: list[str], out) -> list[float]:
    train(load_config(None, TINY + extra, method=method, preset="world-small"), out, progress=False)
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", method_names())
def test_bf16_autocast_trains_every_method_on_cpu(method, tmp_path):
    fp32 = losses(method, ["run.precision=fp32"], tmp_path / "fp32")
    bf16 = losses(method, ["run.precision=bf16"], tmp_path / "bf16")
    assert bf16 != fp32  # autocast ran: bf16 matmuls round differently
    assert bf16 == pytest.approx(fp32, rel=2e-2)


@pytest.mark.slow
@pytest.mark.parametrize("method", method_names())
def test_run_compile_traces_every_method(method, tmp_path):
    """Dynamo captures each method's step (graph breaks where the model branches on data) and AOTAutograd
    its backward; aot_eager runs the captured graphs without generating kernels, so every method fits
    CI's time. Inductor's kernels: the next test."""
    eager = losses(method, [], tmp_path / "eager")
    compiled = losses(method, ["run.compile=true", "run.compile_backend=aot_eager"], tmp_path / "compiled")
    assert compiled == pytest.approx(eager, rel=1e-4)


@pytest.mark.slow
def test_run_compile_with_inductor_kernels(tmp_path):
    eager = losses("oc-clip", [], tmp_path / "eager")
    assert losses("oc-clip", ["run.compile=true"], tmp_path / "compiled") == pytest.approx(eager, rel=1e-4)


def test_an_unknown_compile_backend_is_named():
    with pytest.raises(ConfigError, match="run.compile_backend: 'nope'"):
        load_config(None, ["run.compile=true", "run.compile_backend=nope"], method="clip")
