"""The report's pictures, drawn from JSON alone and returned as base64 PNG for inlining."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

from .plots import complexity_plot, coverage_plot, pyplot, study_plot


def _encode(fig) -> str:
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _from_plot(draw, *args) -> str:
    """A probes.plots function (which saves to a path) into base64 PNG."""
    buf = io.BytesIO()
    draw(*args[:1], buf, *args[1:])
    return base64.b64encode(buf.getvalue()).decode()


def training_curves(runs: dict[str, dict]) -> str:
    """One panel per loss term, a line per run that has it; OC-CLIP's local loss gets its ln 2 line (the
    plateau where the true and swapped graphs still tie)."""
    plt = pyplot()
    terms = list(dict.fromkeys(k for r in runs.values() for k in r["curves"] if k not in ("step", "loss")))
    cols = min(3, max(1, len(terms)))
    rows = math.ceil(len(terms) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), dpi=100, squeeze=False)
    for ax, term in zip(axes.flat, terms):
        for name, r in runs.items():
            c = r["curves"]
            if term in c:
                ys = [np.nan if v is None else v for v in c[term]]
                ax.plot(c["step"], ys, label=name, lw=1.3)
        if term == "local_graph_loss":
            ax.axhline(math.log(2), color="k", ls=":", lw=1, label="ln 2")
        ax.set(title=term.replace("_", " "), xlabel="step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(terms) :]:
        ax.axis("off")
    fig.tight_layout()
    return _encode(fig)


def attention_maps(att: dict) -> str:
    """Each shown image, then one panel per node: its binding weights over the patch grid on the image."""
    plt = pyplot()
    items = att["images"]
    cols = 1 + max(len(it["nodes"]) for it in items)
    fig, axes = plt.subplots(len(items), cols, figsize=(2.3 * cols, 2.5 * len(items)), dpi=100, squeeze=False)
    for row, it in zip(axes, items):
        img = np.asarray(Image.open(io.BytesIO(base64.b64decode(it["image"]))))
        row[0].imshow(img, interpolation="nearest")
        row[0].set_title("\n".join(_wrap(it["caption"], 28)), fontsize=7)
        for k, ax in enumerate(row[1:]):
            if k >= len(it["nodes"]):
                ax.axis("off")
                continue
            grid = np.array(it["maps"][k])
            ax.imshow(img, interpolation="nearest")
            ax.imshow(
                grid,
                cmap="magma",
                alpha=0.65,
                extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5),
                interpolation="nearest",
                vmin=0,
                vmax=max(grid.max(), 1e-6),
            )
            ax.set_title(f"node: {it['nodes'][k]}\nmass in its box {it['mass_in_box'][k]:.2f}", fontsize=7)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return _encode(fig)


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line] if line else lines


def complexity(result: dict, title: str) -> str:
    return _from_plot(complexity_plot, result, title)


def coverage(sweep: dict) -> str:
    return _from_plot(coverage_plot, sweep)


def study(doc: dict) -> str:
    return _from_plot(study_plot, doc)
