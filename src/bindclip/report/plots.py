"""PNG views of the binding analysis drawn from its results JSON: complexity curves, the coverage curve."""

from __future__ import annotations

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend, imported on first use (heavy, and only figures need it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def complexity_plot(result: dict, path, title: str = ""):
    """Object accuracy on held-out-object scenes against training fraction, a line per family; `path`
    is a file name or a binary file object."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for family, pts in result["curves"].items():
        if pts:
            ax.plot([p["fraction"] for p in pts], [p["object_acc"] for p in pts], marker="o", label=family)
    ref = result.get("real_embeddings") or []
    if ref:
        ax.plot([p["fraction"] for p in ref], [p["object_acc"] for p in ref], "k--", label="real embeddings")
    ax.set(
        xlabel="fraction of objects in training",
        ylabel="object accuracy, held-out-object scenes",
        ylim=(-0.02, 1.02),
        title=title or "binding-function complexity",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def coverage_plot(result: dict, path):
    """Mean and spread over seeds of held-out-object accuracy against training coverage: against all
    objects, and (where measured) against the test batch's own queries, the paper's test."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=110)
    points = result["points"]
    fr = [p["coverage"] for p in points]
    lines = [("mean", "per_seed", "against all objects")]
    if all("in_batch_mean" in p for p in points):
        lines.append(("in_batch_mean", "in_batch_per_seed", "against the batch's queries (paper)"))
    for mean, per_seed, label in lines:
        ax.plot(fr, [p[mean] for p in points], marker="o", label=label)
        ax.fill_between(fr, [min(p[per_seed]) for p in points], [max(p[per_seed]) for p in points], alpha=0.25)
    ax.legend(fontsize=7)
    ax.set(
        xlabel="object coverage in training",
        ylabel="object accuracy, held-out objects",
        ylim=(-0.02, 1.02),
        title="from-scratch binding generalisation",
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def study_plot(doc: dict, path):
    """A study's headline metric: a panel per budget, per variant every seed as a dot and the mean
    with its 95 % interval; the learned threshold as a dashed line, a fine-tune's pretrained model dotted."""
    plt = pyplot()
    head, budgets, variants = doc["metrics"][0], list(doc["budgets"]), list(doc["variants"])
    fig, axes = plt.subplots(
        1, len(budgets), figsize=(1.2 + 1.5 * len(variants) * len(budgets), 3.8), dpi=110, squeeze=False
    )
    rng = np.random.default_rng(0)
    for ax, budget in zip(axes[0], budgets):
        for x, name in enumerate(variants):
            m = doc["summary"][budget][name]["metrics"][head]
            seeds = np.asarray(m["per_seed"])
            ax.scatter(x + rng.uniform(-0.12, 0.12, len(seeds)), seeds, s=14, alpha=0.6, color="tab:blue")
            if m.get("lo") is not None:
                ax.errorbar(
                    x + 0.25,
                    m["mean"],
                    yerr=[[m["mean"] - m["lo"]], [m["hi"] - m["mean"]]],
                    fmt="o",
                    color="k",
                    capsize=4,
                )
        if doc.get("learned_at") is not None:
            ax.axhline(doc["learned_at"], ls="--", color="grey", lw=0.8)
        if "pretrained" in doc:  # a fine-tune study: where every variant started
            ax.axhline(doc["pretrained"]["accuracy"][head], ls=":", color="tab:red", lw=1.2, label="pretrained")
            ax.legend(loc="lower right", fontsize=7)
        ax.set_xticks(range(len(variants)), variants, rotation=20, fontsize=8)
        ax.set(title=f"{doc['study']}: budget {budget}", ylabel=f"held-out {head} (%)", ylim=(-2, 102))
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
