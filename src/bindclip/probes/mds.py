"""An MDS view of composite vs summed object embeddings (the additivity figure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report.plots import pyplot


def mds_points(x: np.ndarray, sset, a: int, n: int, b: int, m: int) -> tuple[np.ndarray, list[str]]:
    """Composite scenes of two objects (a n, b m) in both orders and with attributes swapped, against sums
    of averaged object vectors: is "a n + b m" next to the composite (a n, b m), not to (b n, a m)?"""
    ids = sset.object_ids()
    mu = x.mean(0)
    obj = lambda at, no: at * sset.sizes[1] + no  # noqa: E731
    scene = lambda o1, o2: x[sset.pair_index(o1, o2)]  # noqa: E731

    def object_vector(o):  # centred mean over scenes holding the object in either slot
        return x[(ids == o).any(1)].mean(0) - mu

    an, bm, bn, am = obj(a, n), obj(b, m), obj(b, n), obj(a, m)
    names = sset.object_name
    points = [
        scene(an, bm),
        scene(bm, an),
        scene(bn, am),
        scene(am, bn),
        mu + object_vector(an) + object_vector(bm),
        mu + object_vector(bn) + object_vector(am),
    ]
    labels = [
        f"{names(an)} & {names(bm)}",
        f"{names(bm)} & {names(an)}",
        f"{names(bn)} & {names(am)}",
        f"{names(am)} & {names(bn)}",
        f"sum: {names(an)} + {names(bm)}",
        f"sum: {names(bn)} + {names(am)}",
    ]
    return np.stack(points), labels


def mds_plot(x: np.ndarray, sset, path: str | Path, seed: int = 0) -> tuple[Path, float]:
    """2-D classical MDS on cosine distances; returns the path and the normalised stress."""
    plt = pyplot()
    rng = np.random.RandomState(seed)
    V0, V1 = sset.sizes
    a, b = rng.choice(V0, 2, replace=False)
    n, m = rng.choice(V1, 2, replace=False)
    pts, labels = mds_points(x, sset, a, n, b, m)
    unit = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    d = np.clip(1 - unit @ unit.T, 0, None)
    J = np.eye(len(d)) - 1 / len(d)
    B = -0.5 * J @ (d**2) @ J
    w, v = np.linalg.eigh(B)
    order = np.argsort(w)[::-1][:2]
    xy = v[:, order] * np.sqrt(np.clip(w[order], 0, None))
    fit = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    stress = float(np.sqrt(((fit - d) ** 2).sum() / max((d**2).sum(), 1e-12)))
    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=110)
    colours = ["C0", "C0", "C3", "C3", "C0", "C3"]
    markers = ["o", "s", "o", "s", "*", "*"]
    for (px, py), lab, c, mk in zip(xy, labels, colours, markers):
        ax.scatter(px, py, c=c, marker=mk, s=90 if mk == "*" else 50)
        ax.annotate(lab, (px, py), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set(title=f"composites vs summed objects (MDS, stress {stress:.2f})", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return Path(path), round(stress, 4)
