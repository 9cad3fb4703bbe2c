"""`bindclip probe all`: embeddings -> probes -> additivity -> complexity -> interventions, one results.json.

Three sizes. "paper" is the paper's scene sets (text: 20 x 20, 160,000 scenes; images: every ordered pair of
the world's objects) with the sweep cut to fit a 2-core CPU; "quick" is 10 x 10 text (10,000 scenes)
and a shorter sweep; "demo" is quick with fewer complexity fits (the demo's and `diagnose`'s). The sizes
actually used are written into results.json ("sizes"), and every number is the final epoch of its fit:
nothing is selected on test scenes.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..atomic import write_json
from ..errors import ConfigError, MissingFileError
from ..overrides import from_dict, merge, parse_overrides
from ..report.plots import complexity_plot, coverage_plot
from ..world import WorldConfig
from .additivity import additivity
from .complexity import FAMILIES, complexity
from .encoders import embed, load_encoder
from .fit import Plateau
from .interventions import interventions, single_object_texts
from .linear import run_probes
from .mds import mds_plot
from .scenes import SceneSet, text_scenes, world_scenes


@dataclass
class Sizes:
    text_values: int = 20
    probe_epochs: int = 40
    probe_batch: int | None = 1024  # None: full batch
    complexity_epochs: int = 4000  # the paper's; with a plateau rule, the cap
    complexity_until: str = "plateau"  # "plateau": fit until the training loss stops improving; "epochs"
    complexity_patience: int = 10  # epochs without a 0.1 % improvement before the rate halves (fit.Plateau)
    complexity_batch: int | None = 1024  # None: full batch (the paper)
    complexity_lr: float | None = None  # None: 1e-3 for the MLPs, the paper's 1e-2 for the rest (family_lr)
    complexity_max_train: int | None = 16384  # None: every scene of the training objects
    complexity_max_test: int | None = 4096
    fractions: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    families: tuple[str, ...] = FAMILIES
    intervention_scenes: int = 2000

    def complexity_args(self) -> dict:
        """The keyword arguments of complexity() these sizes stand for."""
        if self.complexity_until not in ("plateau", "epochs"):
            raise ConfigError(f"--set complexity_until: {self.complexity_until!r}; use plateau or epochs")
        return {
            "families": self.families,
            "fractions": self.fractions,
            "epochs": self.complexity_epochs,
            "max_train": self.complexity_max_train,
            "max_test": self.complexity_max_test,
            "batch_size": self.complexity_batch,
            "plateau": Plateau(self.complexity_patience) if self.complexity_until == "plateau" else None,
            "lr": self.complexity_lr,
        }


SIZES = {
    "paper": Sizes(),
    "quick": Sizes(
        text_values=10,
        probe_epochs=500,
        probe_batch=None,
        complexity_batch=256,
        complexity_max_train=None,
        complexity_max_test=None,
        intervention_scenes=1000,
    ),
}
# the demo's and `bindclip diagnose`'s: about a minute per image encoder on 2 cores. The four families that
# tell additive, interacting and object-factored binding apart, three fractions, minibatches of 512 and a
# plateau patience of 5 epochs (fits still run until converged; on the world's 4,096 scenes 0.1 of the
# objects leaves too few scenes to fit)
SIZES["demo"] = replace(
    SIZES["quick"],
    families=("linear", "mlp-128", "product", "object-product"),
    fractions=(0.3, 0.6, 0.9),
    complexity_batch=512,
    complexity_patience=5,
)


def sizes_with(base: str, overrides: list[str]) -> Sizes:
    """A named size with KEY=VALUE overrides (lists comma-separated), read and type-checked as training
    config overrides are: an unknown key or a value of the wrong type is a ConfigError naming it."""
    return from_dict(Sizes, merge(asdict(SIZES[base]), parse_overrides(overrides)), where="--set")


def scene_set_for(encoder, sizes: Sizes) -> SceneSet:
    if encoder.modality == "text":
        return text_scenes(sizes.text_values)
    world = encoder.scorer.world
    if world is None:
        return world_scenes(WorldConfig.clevr2d(image_size=encoder.image_size))
    cfg = world.cfg
    return world_scenes(WorldConfig.clevr2d(colours=cfg.colours, shapes=cfg.shapes, image_size=cfg.image_size))


def single_embeddings(encoder, sset: SceneSet) -> np.ndarray | None:
    """The `single` bank: each object alone, as its caption ("red square"). Image encoders have none:
    one-object images are not part of the world's ordered-pair set."""
    return encoder.encode_texts(single_object_texts(sset)) if encoder.modality == "text" else None


def log(msg: str, t0: float) -> None:
    print(f"[probe {time.time() - t0:6.0f}s] {msg}", file=sys.stderr, flush=True)


STAGES = ("probes", "additivity", "complexity", "interventions")


def as_sizes(size: str | Sizes) -> Sizes:
    return size if isinstance(size, Sizes) else SIZES[size]


def prepare(
    encoder_spec: str,
    size: str | Sizes = "paper",
    modality: str | None = None,
    cache: str | Path | None = None,
    t0: float | None = None,
):
    """(encoder, scene set, embeddings [S, D]) with the embeddings read from / written to `cache`."""
    encoder = load_encoder(encoder_spec, modality)
    sset = scene_set_for(encoder, as_sizes(size))
    log(f"embedding {len(sset.labels)} scenes of {sset.name} with {encoder.name}", t0 or time.time())
    return encoder, sset, embed(encoder, sset, cache)


def run_stages(
    encoder, sset: SceneSet, x: np.ndarray, size: str | Sizes, stages=STAGES, t0: float | None = None
) -> dict:
    """The named stages on one encoder's embeddings; the probes are trained first whatever is asked,
    since the later stages decode with them."""
    sizes, t0 = as_sizes(size), t0 or time.time()
    results = {
        "encoder": encoder.name,
        "scenes": sset.name,
        "n_scenes": len(x),
        "dim": int(x.shape[1]),
        "sizes": asdict(sizes),
        "seconds": {},
    }
    stage = time.time()

    def done(name: str) -> None:
        nonlocal stage
        results["seconds"][name] = round(time.time() - stage, 1)
        stage = time.time()

    log("linear probes (40/60 scene split)", t0)
    probes, res = run_probes(x, sset, sizes.probe_epochs, batch_size=sizes.probe_batch)
    results["probes"] = res.to_dict()
    done("probes")
    if "additivity" in stages:
        log("additivity: object- and concept-additive fits, probes on the residuals", t0)
        results["additivity"] = additivity(x, sset, sizes.probe_epochs, batch_size=sizes.probe_batch)
        done("additivity")
    if "complexity" in stages:
        log(f"complexity: {len(sizes.families)} families x {len(sizes.fractions)} training fractions", t0)
        results["complexity"] = complexity(x, sset, probes, **sizes.complexity_args())
        done("complexity")
    if "interventions" in stages:
        log("interventions", t0)
        results["interventions"] = interventions(
            x, sset, probes, single_embeddings(encoder, sset), max_scenes=sizes.intervention_scenes
        )
        done("interventions")
    return results


def attach_scratch(results: dict, scratch_dir: str | Path, out: Path) -> None:
    """Add a `probe from-scratch` sweep (its coverage.json) to the results, with its coverage plot in `out`
    (the sweep takes minutes to an hour, so `all` reuses one rather than running it)."""
    path = Path(scratch_dir) / "coverage.json"
    if not path.is_file():
        raise MissingFileError(f"{path}: no coverage sweep (run `bindclip probe from-scratch --out {scratch_dir}`)")
    sweep = json.loads(path.read_text())
    results["from_scratch"] = {"source": str(path), **sweep}
    coverage_plot(sweep, out / "coverage.png")
    results.setdefault("plots", []).append("coverage.png")


def run_all(
    encoder_spec: str,
    out: str | Path,
    size: str | Sizes = "paper",
    modality: str | None = None,
    cache: str | Path | None = None,
    stages=STAGES,
    name: str = "results.json",
    scratch_dir: str | Path | None = None,
) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    encoder, sset, x = prepare(encoder_spec, size, modality, cache or out / "embeddings", t0)
    results = run_stages(encoder, sset, x, size, stages, t0)
    write_views(results, x, sset, out)
    if scratch_dir:
        attach_scratch(results, scratch_dir, out)
    results["seconds"]["total"] = round(time.time() - t0, 1)
    write_json(out / name, results)
    log(f"wrote {out / name}", t0)
    return results


def write_views(results: dict, x: np.ndarray, sset: SceneSet, out: Path) -> None:
    results["plots"] = []
    if "complexity" in results:
        complexity_plot(results["complexity"], out / "complexity.png", f"binding complexity: {results['encoder']}")
        results["plots"].append("complexity.png")
    if sset.is_full_grid():
        _, stress = mds_plot(x, sset, out / "mds.png")
        results["mds"] = {"png": "mds.png", "stress": stress}
        results["plots"].append("mds.png")


def summary(res: dict) -> dict:
    """The headline figures of a results dict, for the terminal."""
    out = {"encoder": res["encoder"], "scenes": res["scenes"]}
    if "probes" in res:
        out |= {"concept_acc": res["probes"]["test"]["concept_acc"], "object_acc": res["probes"]["test"]["object_acc"]}
    if "additivity" in res:
        out["object_additive_r2"] = res["additivity"]["fits"]["objects"]["r2_held_out"]
    if "complexity" in res:
        out["complexity_at_0.9"] = {f: pts[-1]["object_acc"] for f, pts in res["complexity"]["curves"].items() if pts}
    if "seconds" in res:
        out["seconds"] = res["seconds"].get("total", sum(res["seconds"].values()))
    return out
