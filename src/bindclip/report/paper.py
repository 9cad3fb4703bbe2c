"""The seed papers' published numbers, shown beside ours where the benchmark is the same (or, for the
world, where the paper ran the same kind of test in its own synthetic world: labelled PUG).

All are secondary readings (see shared/research/occlip.md §3 and c2lip.md §3): the tables were read
through summaries, not the PDFs, and the backbones and training data differ from anything trained
here. They are context for a row, never a target a test checks.
"""

from __future__ import annotations

OCCLIP, OCCLIP_BASE, C2LIP, C2LIP_BASE = "OC-CLIP", "OpenCLIP-FT", "C2LIP", "SigLIP"
OCCLIP_PUG, CLIP_PUG = "OC-CLIP (PUG)", "OpenCLIP-FT+HN (PUG)"
SOURCES = {
    OCCLIP_PUG: "OC-CLIP paper's synthetic PUG world, attribute binding on unseen pairs (read off a figure)",
    CLIP_PUG: "the same PUG study's OpenCLIP fine-tuned with hard negatives",
    OCCLIP: "OC-CLIP paper, fine-tuned in domain (COCO+VG+GQA)",
    OCCLIP_BASE: "OC-CLIP paper's OpenCLIP baseline fine-tuned on the same data",
    C2LIP: "C2LIP paper, SigLIP ViT-B/16 fine-tuned on CC3M",
    C2LIP_BASE: "C2LIP paper's original SigLIP ViT-B/16",
}

PAPER: dict[str, dict[str, float]] = {
    # an analogous synthetic test, not the same world: the paper's PUG scenes (20 animals x 4 textures)
    "world/swap-attribute": {OCCLIP_PUG: 97.0, CLIP_PUG: 81.0},
    "aro/vg-relation": {OCCLIP: 84.9, OCCLIP_BASE: 50.1},
    "whatsup/coco-spatial": {OCCLIP: 89.7, OCCLIP_BASE: 45.6},
    "whatsup/gqa-spatial": {OCCLIP: 92.7, OCCLIP_BASE: 49.1},
    "sugarcrepe/add": {C2LIP: 94.2, C2LIP_BASE: 86.5},
    "sugarcrepe/replace": {C2LIP: 88.3, C2LIP_BASE: 84.1},
    "sugarcrepe/swap": {C2LIP: 73.1, C2LIP_BASE: 65.8},
    "sugarcrepe/replace_att": {C2LIP: 89.3, C2LIP_BASE: 86.7},
    "sugarcrepe/swap_att": {C2LIP: 77.6, C2LIP_BASE: 71.5},
    "sugarcrepe++/replace-itt": {C2LIP: 79.7, C2LIP_BASE: 73.8},
    "sugarcrepe++/swap-itt": {C2LIP: 75.3, C2LIP_BASE: 62.8},
    "sugarcrepe++/replace_att-itt": {C2LIP: 82.5, C2LIP_BASE: 75.5},
    "sugarcrepe++/replace_att-tot": {C2LIP_BASE: 64.2},
    "sugarcrepe++/swap_att-itt": {C2LIP: 78.2, C2LIP_BASE: 56.3},
}

# families the papers report as one number: the unweighted mean of their splits [our reading]
FAMILIES: dict[str, tuple[str, ...]] = {
    "sugarcrepe/add": ("sugarcrepe/add_att", "sugarcrepe/add_obj"),
    "sugarcrepe/replace": ("sugarcrepe/replace_att", "sugarcrepe/replace_obj", "sugarcrepe/replace_rel"),
    "sugarcrepe/swap": ("sugarcrepe/swap_att", "sugarcrepe/swap_obj"),
    "sugarcrepe++/replace-itt": tuple(f"sugarcrepe++/replace_{s}-itt" for s in ("att", "obj", "rel")),
    "sugarcrepe++/swap-itt": tuple(f"sugarcrepe++/swap_{s}-itt" for s in ("att", "obj")),
    "sugarcrepe++/replace-tot": tuple(f"sugarcrepe++/replace_{s}-tot" for s in ("att", "obj", "rel")),
    "sugarcrepe++/swap-tot": tuple(f"sugarcrepe++/swap_{s}-tot" for s in ("att", "obj")),
    "whatsup/coco-spatial": ("whatsup/coco-one", "whatsup/coco-two"),
    "whatsup/gqa-spatial": ("whatsup/gqa-one", "whatsup/gqa-two"),
}


def add_families(results: dict[str, dict]) -> dict[str, dict]:
    """Family rows for every family whose splits were all run."""
    out = dict(results)
    for family, parts in FAMILIES.items():
        if all(p in results and results[p].get("accuracy") is not None for p in parts):
            out[family] = {
                "accuracy": round(sum(results[p]["accuracy"] for p in parts) / len(parts), 6),
                "n": sum(results[p]["n"] for p in parts),
                "skipped": sum(results[p]["skipped"] for p in parts),
                "derived": "unweighted mean of " + ", ".join(parts),
            }
    return out
