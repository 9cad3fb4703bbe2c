"""Interventions: swap one object's attribute by vector arithmetic and check where the embedding lands.

For a scene (a1 o1, a2 o2) and a target attribute a_t not in {a1, a2}, the left edit is
x' = x - k (e(a1, o1) - e(a_t, o1)) (the right one likewise on slot 2). Object-embedding banks e(a, o):
  obj-avg   mean of every scene embedding holding (a, o) in either slot
  pos-avg   mean over the scenes holding (a, o) in that slot
  single    the embedding of the object alone ("red square" / a one-object image), when given
Success: retrieval top-1 (the cosine nearest scene is the control scene with a_t in place) and the
concept probes' joint hit (the attribute probe separates {a_t, the other attribute}, the noun probe
{o1, o2}). Reported separately for scenes whose two attributes are shared (a1 = a2) or different.
Scenes whose objects share the noun are skipped (the edit could not say which one it means).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .linear import LinearProbes, multi_hot, set_separation
from .scenes import SceneSet

BANKS = ("obj-avg", "pos-avg", "single")


def banks(x: torch.Tensor, sset: SceneSet, single: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """bank name -> [2 slots, U objects, D] (obj-avg and single repeat across slots)."""
    ids = torch.as_tensor(sset.object_ids(), dtype=torch.long)
    U, D = sset.n_objects, x.shape[1]
    sums, counts = torch.zeros(2, U, D), torch.zeros(2, U, 1)
    for slot in (0, 1):
        sums[slot].index_add_(0, ids[:, slot], x)
        counts[slot].index_add_(0, ids[:, slot], torch.ones(len(x), 1))
    out = {"obj-avg": (sums.sum(0) / counts.sum(0).clamp_min(1)).expand(2, U, D), "pos-avg": sums / counts.clamp_min(1)}
    if single is not None:
        out["single"] = single.expand(2, U, D)
    return out


def single_object_texts(sset: SceneSet) -> list[str]:
    """The paper's single-object captions, no article: "red square", in object-id order."""
    return [sset.object_name(o) for o in range(sset.n_objects)]


def edits(sset: SceneSet, max_scenes: int | None, seed: int = 42):
    """(scene index, slot, target attribute, control scene index) for the sampled base scenes."""
    rng = np.random.RandomState(seed)
    lab = sset.labels
    keep = np.nonzero(lab[:, 0, 1] != lab[:, 1, 1])[0]
    if max_scenes and len(keep) > max_scenes:
        keep = np.sort(rng.choice(keep, max_scenes, replace=False))
    V0, V1 = sset.sizes
    out = []
    for s in keep:
        (a1, o1), (a2, o2) = lab[s]
        choices = [a for a in range(V0) if a not in (a1, a2)]
        if not choices:
            continue
        t = int(rng.choice(choices))
        for slot in (0, 1):
            new = lab[s].copy()
            new[slot, 0] = t
            control = sset.pair_index(new[0, 0] * V1 + new[0, 1], new[1, 0] * V1 + new[1, 1])
            out.append((int(s), slot, t, int(control)))
    return out


@torch.no_grad()
def interventions(
    x: np.ndarray,
    sset: SceneSet,
    probes: LinearProbes,
    single: np.ndarray | None = None,
    k: float = 1.0,
    max_scenes: int | None = 2000,
    seed: int = 42,
) -> dict:
    """Per bank and Shared/Different: retrieval top-1 and probe joint-hit rates over the edits."""
    x = torch.as_tensor(x, dtype=torch.float32)
    if not sset.is_full_grid():
        raise ValueError("interventions need the full ordered-pair scene set (every control scene present)")
    plan = edits(sset, max_scenes, seed)
    scene, slot, target, control = (torch.tensor(c) for c in zip(*plan))
    lab = torch.as_tensor(sset.labels, dtype=torch.long)
    ids = torch.as_tensor(sset.object_ids(), dtype=torch.long)
    V1 = sset.sizes[1]
    own = ids[scene, slot]
    swapped = target * V1 + lab[scene, slot, 1]
    other_attr = lab[scene, 1 - slot, 0]
    shared = lab[scene, 0, 0] == lab[scene, 1, 0]
    ref = F.normalize(x, dim=-1)
    attr_present = multi_hot(torch.stack([target, other_attr], 1), sset.sizes[0]) > 0
    noun_present = multi_hot(lab[scene, :, 1], sset.sizes[1]) > 0
    out = {"k": k, "edits": len(plan), "base_scenes": len(set(scene.tolist())), "banks": {}}
    single_t = torch.as_tensor(single, dtype=torch.float32) if single is not None else None
    for name, bank in banks(x, sset, single_t).items():
        edited = x[scene] - k * (bank[slot, own] - bank[slot, swapped])
        hits = []
        for i in range(0, len(edited), 1024):  # nearest scene, in chunks: [1024, S] at a time
            hits.append((F.normalize(edited[i : i + 1024], dim=-1) @ ref.T).argmax(1))
        retrieved = torch.cat(hits) == control
        logits = probes(edited)
        joint = set_separation(logits[sset.concepts[0]], attr_present) & set_separation(
            logits[sset.concepts[1]], noun_present
        )
        out["banks"][name] = {
            part: {
                "retrieval_top1": round(retrieved[m].float().mean().item(), 6) if m.any() else None,
                "probe_joint": round(joint[m].float().mean().item(), 6) if m.any() else None,
                "n": int(m.sum()),
            }
            for part, m in (("different", ~shared), ("shared", shared))
        }
    return out
