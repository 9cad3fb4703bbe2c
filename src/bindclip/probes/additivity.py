"""Do scene embeddings decompose additively? Object-additive and concept-additive reconstructions.

  object-additive:  x ~ mean + T_0[o_0] + T_1[o_1]                 (a table of object vectors per slot)
  concept-additive: x ~ mean + sum_{slot i, concept k} T_ik[v_ik]   (a table of value vectors per slot and concept)

Both are linear in one-hot features, so the least-squares fit is solved exactly (normal equations,
a tiny ridge for the slot-shift degeneracy) rather than by SGD. R^2 is reported on a 99/1 scene
split. The residual x - x_hat (the fit is on centred x, so the residual keeps the mean, as the paper
does) is probed again: if x is object-additive, removing x_hat_obj removes object and concept
information. Controls evaluate the same fit on randomly permuted ids, which should remove little.
"""

from __future__ import annotations

import numpy as np
import torch

from .linear import run_probes
from .scenes import SceneSet


def concept_offsets(sizes: tuple[int, int]) -> list[int]:
    """Where each slot's table starts among the concept-additive columns, slots in label order
    (object 1 attribute, object 1 noun, object 2 attribute, object 2 noun)."""
    V0, V1 = sizes
    return [0, V0, V0 + V1, 2 * V0 + V1]


def design_columns(sset: SceneSet, kind: str, perm: np.random.RandomState | None = None) -> np.ndarray:
    """[S, F] column index of each active one-hot feature (F = 2 objects or 4 slot-concepts)."""
    U, (V0, V1) = sset.n_objects, sset.sizes
    if kind == "objects":
        ids = sset.object_ids()
        if perm is not None:
            ids = perm.permutation(U)[ids]
        return np.stack([ids[:, 0], U + ids[:, 1]], 1)
    if kind == "concepts":
        lab = sset.labels.copy()
        if perm is not None:
            lab[..., 0], lab[..., 1] = perm.permutation(V0)[lab[..., 0]], perm.permutation(V1)[lab[..., 1]]
        return lab.reshape(-1, 4) + np.array(concept_offsets(sset.sizes))
    raise ValueError(f"kind must be 'objects' or 'concepts', got {kind!r}")


def n_features(sset: SceneSet, kind: str) -> int:
    return 2 * sset.n_objects if kind == "objects" else 2 * sum(sset.sizes)


def fit_tables(cols: np.ndarray, y: torch.Tensor, n: int, ridge: float = 1e-4) -> torch.Tensor:
    """Least-squares tables [n, D] with x_hat = sum of the rows named in `cols`, y centred."""
    c = torch.as_tensor(cols, dtype=torch.long)
    gram = torch.zeros(n, n, dtype=torch.float64)
    ones = torch.ones(len(c), dtype=torch.float64)
    for i in range(c.shape[1]):
        for j in range(c.shape[1]):
            gram.index_put_((c[:, i], c[:, j]), ones, accumulate=True)
    rhs = torch.zeros(n, y.shape[1], dtype=torch.float64)
    for i in range(c.shape[1]):
        rhs.index_add_(0, c[:, i], y.double())
    gram += ridge * torch.eye(n, dtype=torch.float64)
    return torch.linalg.solve(gram, rhs).float()


def reconstruct(tables: torch.Tensor, cols: np.ndarray) -> torch.Tensor:
    return tables[torch.as_tensor(cols, dtype=torch.long)].sum(1)


def r2(y: torch.Tensor, y_hat: torch.Tensor) -> float:
    sse = ((y - y_hat) ** 2).sum()
    sst = ((y - y.mean(0)) ** 2).sum()
    return round(1 - (sse / sst).item(), 6)


def additivity(
    x: np.ndarray, sset: SceneSet, probe_epochs: int = 2000, seed: int = 0, batch_size: int | None = None
) -> dict:
    """R^2 of both reconstructions, and probes re-trained on each residual and on its permuted control."""
    x = torch.as_tensor(x, dtype=torch.float32)
    mean = x.mean(0)
    y = x - mean
    perm = np.random.RandomState(seed).permutation(len(x))
    n_fit = int(0.99 * len(x))
    fit_idx, held_idx = perm[:n_fit], perm[n_fit:]
    out = {
        "fits": {},
        "probes": {},
        "sizes": {"scenes": len(x), "fit": n_fit, "r2_held_out": len(held_idx), "probe_epochs": probe_epochs},
    }
    out["probes"]["base"] = run_probes(x.numpy(), sset, probe_epochs, seed=seed, batch_size=batch_size)[1].to_dict()
    for kind in ("objects", "concepts"):
        cols = design_columns(sset, kind)
        tables = fit_tables(cols[fit_idx], y[fit_idx], n_features(sset, kind))
        y_hat = reconstruct(tables, cols)
        out["fits"][kind] = {"r2_fit": r2(y[fit_idx], y_hat[fit_idx]), "r2_held_out": r2(y[held_idx], y_hat[held_idx])}
        controls = design_columns(sset, kind, np.random.RandomState(seed + 1))
        for variant, hat in ((kind, y_hat), (f"{kind}_permuted", reconstruct(tables, controls))):
            out["probes"][variant] = run_probes(
                (x - hat).numpy(), sset, probe_epochs, seed=seed, batch_size=batch_size
            )[1].to_dict()
    return out
