"""Linear concept and object probes on frozen scene embeddings, scored by set separation.

A probe is a bias-free matrix whose rows are learned value (or object) embeddings; logits = W x. It
is trained full batch with Adam and a cosine schedule, by soft cross-entropy against the normalised
multi-hot of what the scene holds (two different colours: 0.5 / 0.5; a shared one: 1.0). A scene is
decoded right when every present class outscores every absent one (set separation), a stricter test
than top-k when both objects share a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .fit import fit
from .scenes import SceneSet


def multi_hot(ids: torch.Tensor, n: int) -> torch.Tensor:
    """[S, k] class ids -> [S, n] normalised counts (rows sum to 1)."""
    counts = torch.zeros(len(ids), n).scatter_add_(1, ids, torch.ones(ids.shape))
    return counts / counts.sum(1, keepdim=True)


def set_separation(logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """[S] bool: min logit over the present classes > max logit over the absent ones."""
    inf = torch.finfo(logits.dtype).max
    low = logits.masked_fill(~present, inf).min(1).values
    high = logits.masked_fill(present, -inf).max(1).values
    return low > high


def scene_split(n: int, train_fraction: float = 0.4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The paper's scene-level split: a seeded permutation, the first 40% for training."""
    perm = np.random.RandomState(seed).permutation(n)
    k = int(train_fraction * n)
    return np.sort(perm[:k]), np.sort(perm[k:])


def targets(sset: SceneSet) -> dict[str, torch.Tensor]:
    """Class ids per scene for each probe: the two concepts' values and the two object ids, [S, 2] each."""
    labels = torch.as_tensor(sset.labels, dtype=torch.long)
    return {
        sset.concepts[0]: labels[:, :, 0],
        sset.concepts[1]: labels[:, :, 1],
        "object": torch.as_tensor(sset.object_ids(), dtype=torch.long),
    }


class LinearProbes(nn.Module):
    def __init__(self, dim: int, classes: dict[str, int]):
        super().__init__()
        self.heads = nn.ModuleDict({k: nn.Linear(dim, n, bias=False) for k, n in classes.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: h(x) for k, h in self.heads.items()}


def probe_classes(sset: SceneSet) -> dict[str, int]:
    return {sset.concepts[0]: sset.sizes[0], sset.concepts[1]: sset.sizes[1], "object": sset.n_objects}


def fit_probes(
    x: np.ndarray | torch.Tensor,
    sset: SceneSet,
    train_idx,
    epochs: int = 2000,
    lr: float = 1e-2,
    seed: int = 0,
    batch_size: int | None = None,
) -> LinearProbes:
    """The probes fitted on the scenes `train_idx` (probes.fit: Adam + cosine, full batch or minibatches)."""
    torch.manual_seed(seed)
    x = torch.as_tensor(x, dtype=torch.float32)[train_idx]
    classes = probe_classes(sset)
    soft = {k: multi_hot(t[train_idx], classes[k]) for k, t in targets(sset).items()}
    probes = LinearProbes(x.shape[1], classes)

    def loss_of(rows: torch.Tensor) -> torch.Tensor:
        logits = probes(x[rows])
        return sum(F.cross_entropy(logits[k], soft[k][rows]) for k in soft)

    fit(probes.parameters(), loss_of, len(x), epochs, lr, batch_size)
    return probes.eval()


@torch.no_grad()
def probe_accuracy(probes: LinearProbes, x, sset: SceneSet, idx) -> dict[str, float]:
    """Set-separation accuracy per probe on the scenes `idx`; concept_acc is the mean over the concepts."""
    x = torch.as_tensor(x, dtype=torch.float32)[idx]
    logits = probes(x)
    out = {}
    for k, ids in targets(sset).items():
        present = multi_hot(ids[idx], logits[k].shape[1]) > 0
        out[k] = round(set_separation(logits[k], present).float().mean().item(), 6)
    out["concept_acc"] = round((out[sset.concepts[0]] + out[sset.concepts[1]]) / 2, 6)
    out["object_acc"] = out["object"]
    return out


@dataclass
class ProbeResult:
    train: dict
    test: dict
    n_train: int
    n_test: int
    epochs: int
    batch_size: int | None = None  # None: full batch

    def to_dict(self) -> dict:
        return {
            "train": self.train,
            "test": self.test,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "reported": "final epoch",
        }


def run_probes(
    x,
    sset: SceneSet,
    epochs: int = 2000,
    lr: float = 1e-2,
    seed: int = 0,
    train_fraction: float = 0.4,
    batch_size: int | None = None,
) -> tuple[LinearProbes, ProbeResult]:
    train_idx, test_idx = scene_split(len(sset.labels), train_fraction, seed)
    probes = fit_probes(x, sset, train_idx, epochs, lr, seed, batch_size)
    return probes, ProbeResult(
        probe_accuracy(probes, x, sset, train_idx),
        probe_accuracy(probes, x, sset, test_idx),
        len(train_idx),
        len(test_idx),
        epochs,
        batch_size,
    )
