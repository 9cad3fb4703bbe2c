"""One dataclass tree for a training run, from YAML/JSON plus `section.key=value` overrides.

Unknown keys are errors that name the key, so a typo never trains the default silently. The
effective config is written beside the run as config.json, and that file alone rebuilds the run.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError, MissingFileError, SpecError
from ..graphs.parse import check_parser_spec
from ..methods import get_method
from ..models import BackboneConfig, BindingConfig
from ..overrides import from_dict, merge, parse_overrides, read_config_file
from ..world import DEFAULT_SPLIT, World, WorldConfig, training_world


@dataclass
class ModelConfig:
    method: str = "clip"  # a registered method (bindclip.methods)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    binding: BindingConfig = field(default_factory=BindingConfig)  # OC-CLIP only
    obj_dim: int = 128
    rel_dim: int = 128
    rel_hidden: int = 128
    max_nodes: int = 8
    max_relations: int = 8
    counterfactuals: int = 3
    n_shuffled: int = 2


@dataclass
class DataConfig:
    source: str = "world"  # "world" (generated on the fly) or "wds" (WebDataset shards)
    world: WorldConfig = field(default_factory=WorldConfig)
    split: list[str] = field(default_factory=lambda: list(DEFAULT_SPLIT))  # world held-out specs
    split_seed: int = 0
    batch_size: int = 128  # per rank, per micro-step
    workers: int = 2
    shards: str | None = None  # wds: "/data/cc3m/{00000..00099}.tar" or "pipe:curl -s URL" patterns
    image_size: int | None = None  # unset, or the model's input size: images follow the backbone's preprocessing
    graph_cache: str | None = None  # wds: graph cache (sqlite) from `bindclip parse --cache`, else parse in workers
    # caption parser (make_parser spec: spacy, seq2seq:DIR, llm:MODEL@URL) for wds captions without a graph;
    # a run on annotated shards records theirs instead, and eval parses benchmark captions with it
    parser: str = "spacy"
    shuffle_buffer: int = 1000  # wds: records in each stream's shuffle buffer (1: shard order only)
    resampled: bool = False  # wds: each stream draws its shards with replacement (open_clip's multi-node mode)
    train_num_samples: int | None = None  # wds, resampled: samples an epoch (over all streams); unset: a pass's worth
    empty_graphs: str = "caption"  # wds, graph methods: a caption parsed to no object is kept as one node, or "skip"
    graph_noise: float = 0.0  # share of training graphs given one parser-like error (graphs.noise); evals stay clean

    def training_world(self) -> World:
        """The world and held-out split this data config trains on."""
        return training_world(self.world, self.split, self.split_seed)


# Learning rates when unset. From scratch every parameter takes LR_SCRATCH. Fine-tuning pretrained
# towers (model.backbone.pretrained set) follows OC-CLIP's recipe, a lower rate for the towers than for
# the new modules: 1e-5 on the towers (C2LIP's rate for its full SigLIP fine-tune; at 1e-3 two steps turn
# ViT-B-32's features to cosine -0.1 with their start), and the scratch rate on the binding module and
# score heads, which start from scratch. `bindclip study fine-tune`'s sweeps earned both: at 1e-4 OC-CLIP's
# new modules stayed at chance on held-out swap-attribute after 60 steps (47 %, 3 seeds) where 1e-3 reached
# 82 %; the towers' 1e-5 was C2LIP's best (docs/results.md, "Fine-tuning one pretrained model").
LR_SCRATCH, LR_NEW_MODULES, LR_PRETRAINED_TOWERS = 1e-3, 1e-3, 1e-5


@dataclass
class OptimConfig:
    lr: float | None = None  # new modules (and everything from scratch); unset: 1e-3
    backbone_lr: float | None = None  # open_clip towers; unset: lr, or 1e-5 when fine-tuning pretrained towers
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    warmup: float = 0.05  # fraction of steps (< 1) or a step count (>= 1)
    grad_clip: float | None = 1.0
    accum_steps: int = 1  # micro-batches per optimiser step
    freeze_image: bool = False
    freeze_text: bool = False


@dataclass
class LossConfig:
    local_weight: float = 1.0  # OC-CLIP local graph loss
    mask_shared_objects: bool = False  # OC-CLIP ablation: drop in-batch negatives naming one of the caption's objects
    contrastive_weight: float = 1.0
    npc_weight: float = 1.0  # C2LIP
    xac_weight: float = 0.01
    sigmoid: bool | None = None  # C2LIP's caption/concept form; None: sigmoid iff the model has a logit bias
    concept_positives: str = "text"  # C2LIP: a phrase's positives are images with its text, or only its "owner"


@dataclass
class RunConfig:
    steps: int = 1000
    seed: int = 0
    log_every: int = 10
    save_every: int = 100
    keep: int = 2  # checkpoints kept besides last.pt
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 autocast on GPU, fp32 on CPU) | fp32 | bf16
    threads: int | None = None  # torch CPU threads; None leaves torch's default
    compile: bool = False  # torch.compile the model for the training step (checkpoints keep the plain module)
    compile_backend: str = "inductor"  # torch.compile's backend: inductor (kernels), aot_eager (traced, no codegen)


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> TrainConfig:
        get_method(self.model.method)  # a ConfigError naming the registered methods
        if self.data.source not in ("world", "wds"):
            raise ConfigError(f"data.source: {self.data.source!r}; use 'world' or 'wds'")
        for key, value in (
            ("data.batch_size", self.data.batch_size),
            ("run.steps", self.run.steps),
            ("optim.accum_steps", self.optim.accum_steps),
        ):
            if value < 1:
                raise ConfigError(f"{key}: must be >= 1, got {value}")
        if self.data.train_num_samples is not None and not (self.data.resampled and self.data.train_num_samples > 0):
            raise ConfigError(
                "data.train_num_samples: sets the epoch of resampled shards (data.resampled=true) and "
                f"must be > 0, got {self.data.train_num_samples}; without resampling an epoch is one "
                f"pass over the shards"
            )
        if self.loss.concept_positives not in ("text", "owner"):
            raise ConfigError(f"loss.concept_positives: {self.loss.concept_positives!r}; use 'text' or 'owner'")
        if self.data.empty_graphs not in ("caption", "skip"):
            raise ConfigError(f"data.empty_graphs: {self.data.empty_graphs!r}; use 'caption' or 'skip'")
        if not 0.0 <= self.data.graph_noise <= 1.0:
            raise ConfigError(f"data.graph_noise: a share of graphs in [0, 1], got {self.data.graph_noise}")
        if self.data.source == "wds" and not self.data.shards:
            raise ConfigError("data.shards: needed when data.source is 'wds' (e.g. /data/{00000..00099}.tar)")
        if self.run.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"run.precision: {self.run.precision!r}; use auto, fp32 or bf16")
        if self.run.compile:
            import torch._dynamo  # only when asked: dynamo's import takes a second

            backends = torch._dynamo.list_backends(exclude_tags=())
            if self.run.compile_backend not in backends:
                raise ConfigError(
                    f"run.compile_backend: {self.run.compile_backend!r}; use one of {', '.join(backends)}"
                )
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def resolved(self, explicit_world_size: bool = True) -> TrainConfig:
        """A copy with every default that depends on the model filled in, as config.json stores it: the
        backbone's preprocessing, the learning rates, and (with `explicit_world_size` false, i.e. the user
        never set data.world.image_size) the world rendered at the model's input size."""
        m, o = self.model, self.optim
        try:
            pre = m.backbone.resolved_preprocess()
        except ValueError as e:
            raise ConfigError(f"model.backbone: {e}") from None
        world = self.data.world
        if self.data.source == "world" and world.image_size != pre.size:
            if explicit_world_size:
                raise ConfigError(
                    f"data.world.image_size: the world renders {world.image_size} px images but "
                    f"{m.backbone.config_file or m.backbone.name} takes {pre.size} px; set "
                    f"data.world.image_size={pre.size} (or leave it unset)"
                )
            try:
                world = dataclasses.replace(world, image_size=pre.size)
            except ValueError as e:
                raise ConfigError(
                    f"data.world.image_size: {m.backbone.name} takes {pre.size} px images, "
                    f"which the world cannot render ({e})"
                ) from None
        if self.data.image_size not in (None, pre.size):
            raise ConfigError(
                f"data.image_size: {self.data.image_size} px, but {m.backbone.name} takes {pre.size} px "
                f"images; leave it unset (images follow the backbone's preprocessing)"
            )
        try:
            check_parser_spec(self.data.parser)
        except SpecError as e:
            raise ConfigError(f"data.parser: {e}") from None
        fine_tune = bool(m.backbone.pretrained)
        lr = o.lr if o.lr is not None else LR_NEW_MODULES if fine_tune else LR_SCRATCH
        backbone_lr = o.backbone_lr if o.backbone_lr is not None else LR_PRETRAINED_TOWERS if fine_tune else lr
        return dataclasses.replace(
            self,
            model=dataclasses.replace(m, backbone=dataclasses.replace(m.backbone, preprocess=pre)),
            data=dataclasses.replace(self.data, world=world),
            optim=dataclasses.replace(o, lr=lr, backbone_lr=backbone_lr),
        )


# ---- presets -----------------------------------------------------------------------------------
def world_small() -> dict:
    """Trains in about 2 minutes on 2 CPU cores (OC-CLIP 360 steps: 140 s): 32 px, two objects side
    by side (the calibration's world, the binding paper's CLEVR-2D positions), 8 colours x 8 shapes,
    a quarter of the colour-shape pairs held out, patch-8 tiny ViT. With free positions and five
    relations OC-CLIP's local loss sat at ln 2 for all 360 steps; side by side it leaves ln 2 by step
    ~20. No loader workers: on 2 cores they only compete with the two compute threads (measured 233
    samples/s with 0 workers, 198-207 with 1-2)."""
    return {
        "model": {"backbone": {"name": "bindclip-vit-tiny-32"}, "binding": {"dim": 128, "heads": 4, "n_default": 4}},
        "data": {
            "world": {
                "image_size": 32,
                "min_objects": 2,
                "max_objects": 2,
                "positions": [[0.28, 0.5], [0.72, 0.5]],
                "position_jitter": 0.04,
                "sizes": ["large"],
            },
            "batch_size": 128,
            "workers": 0,
        },
        "optim": {"warmup": 0.05},  # lr unset: 1e-3 from scratch, the fine-tuning rates on pretrained towers
        "run": {"steps": 360, "log_every": 10, "save_every": 120},
    }


PRESETS = {"world-small": world_small}


def _given(path: str | Path | None, overrides, method: str | None, preset: str | None) -> tuple[dict, dict, str]:
    """(preset dict, what the user wrote: file < --method < key=value, where to name in errors)."""
    d: dict = {}
    user: dict = {}  # what the user wrote, apart from the preset
    where = "config"
    if preset:
        if preset not in PRESETS:
            raise ConfigError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
        d = merge(d, PRESETS[preset]())
    if path:
        user = merge(user, read_config_file(path))
        where = str(path)
    if method:
        user = merge(user, {"model": {"method": method}})
    user = merge(user, parse_overrides(overrides))
    if overrides:
        where = f"{where} + overrides"
    return d, user, where


def load_config(
    path: str | Path | None = None, overrides: list[str] = (), method: str | None = None, preset: str | None = None
) -> TrainConfig:
    """preset < file < --method < key=value overrides, later winning."""
    d, user, where = _given(path, overrides, method, preset)
    cfg = from_dict(TrainConfig, merge(d, user), where).validate()
    # unless the user set it, the world renders at the model's size (world-small's 32 px with ViT-B-16 -> 224)
    return cfg.resolved(explicit_world_size="image_size" in ((user.get("data") or {}).get("world") or {}))


def read_run_config(path: str | Path) -> TrainConfig:
    """A run's config.json (or an export's bindclip_config.json), validated and resolved."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except OSError:
        raise MissingFileError(f"{path}: no run config (is this a bindclip run directory?)") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    return from_dict(TrainConfig, d.get("train_config", d), str(path)).validate().resolved()


# what a resumed run may change from its config.json: how long it runs and how it logs, saves and computes
RESUME_MAY_CHANGE = (
    "run.steps",
    "run.log_every",
    "run.save_every",
    "run.keep",
    "run.threads",
    "run.device",
    "run.compile",
    "run.compile_backend",
)


def changed_keys(run_dir: str | Path, cfg: TrainConfig, may_differ=RESUME_MAY_CHANGE) -> list[str]:
    """The keys (besides `may_differ`) on which the run in `run_dir` differs from `cfg`: a run reused
    as the result of `cfg` must have been trained by it."""
    saved = _leaves(read_run_config(Path(run_dir) / "config.json").to_dict())
    asked = _leaves(cfg.resolved().to_dict())
    return sorted(k for k in asked if k not in may_differ and saved.get(k) != asked[k])


def _leaves(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def resume_config(
    run_config: str | Path,
    path: str | Path | None = None,
    overrides: list[str] = (),
    method: str | None = None,
    preset: str | None = None,
) -> TrainConfig:
    """The run's own config.json, with the command line's settings checked against it: a key the command
    line sets to another value is an error naming it, unless it is one a resumed run may change
    (RESUME_MAY_CHANGE), which then applies."""
    saved_path = Path(run_config)
    saved = read_run_config(saved_path)
    d, user, where = _given(path, overrides, method, preset)
    asked = from_dict(TrainConfig, merge(saved.to_dict(), merge(d, user)), where).validate()
    mine, theirs = _leaves(saved.to_dict()), _leaves(asked.to_dict())
    given = set(_leaves(merge(d, user)))
    changes = {}
    for key in sorted(given):
        if key in mine and mine[key] != theirs[key]:
            if key not in RESUME_MAY_CHANGE:
                raise ConfigError(
                    f"--resume: {key} is {theirs[key]!r} here but {mine[key]!r} in {saved_path}; a "
                    f"resumed run keeps its config (it may change {', '.join(RESUME_MAY_CHANGE)})"
                )
            changes[key] = theirs[key]
    out = saved.to_dict()
    for key, value in changes.items():
        section, name = key.split(".")
        out[section][name] = value
    return from_dict(TrainConfig, out, str(saved_path)).validate()
