"""The world's held-out benchmarks: no download, generated from the world the model was trained on.

Every test scene is built only from held-out (colour, shape) pairs, so a model passes by binding
concepts it has seen, never by recalling a seen combination. Captions come with gold graphs, so
OC-CLIP is scored on exact graphs here (the real benchmarks measure the parser too). Ties are wrong
(strict), the stricter of the published rules.
"""

from __future__ import annotations

import torch

from ..graphs import SceneGraph, SGObject
from ..world import World, WorldConfig, training_world
from ..world.benchmarks import (
    TASKS,
    build_items,
    retrieval_set,
    satisfies,
    zero_shot_classes,
    zero_shot_items,
)
from ..world.render import render
from .items import ChoiceItem, SplitResult, evaluate_choices
from .metrics import recall_at_k

SPLITS = TASKS + ("retrieval", "zero-shot")


def world_for(scorer) -> World:
    """The scorer's training world (same held-out split); for outside models the world and split a
    default `bindclip train` uses, rendered at the model's input size as such a run's is, so their
    numbers compare with a default run's."""
    return scorer.world or training_world(WorldConfig(image_size=scorer.image_size))


def choice_items(world: World, task: str, n: int, seed: int = 0) -> list[ChoiceItem]:
    items = build_items(world, task, n, seed=seed, part="test")
    images = render([it.scene for it in items], world.cfg, seed=seed)
    return [
        ChoiceItem(
            f"{task}/{k}",
            images[k],
            [it.positive] + it.negatives,
            (0,),
            graphs=[it.positive_graph] + it.negative_graphs,
        )
        for k, it in enumerate(items)
    ]


def evaluate_world(scorer, n: int = 200, seed: int = 0, splits=SPLITS) -> dict[str, SplitResult]:
    world = world_for(scorer)
    out = {}
    for task in splits:
        if task == "retrieval":
            out[task] = world_retrieval(scorer, world, n, seed)
        elif task == "zero-shot":
            out[task] = world_zero_shot(scorer, world, seed=seed)
        else:
            out[task] = evaluate_choices(
                scorer, choice_items(world, task, n, seed), "strict", desc=f"{scorer.name} world/{task}"
            )
    return out


def world_retrieval(scorer, world: World, n: int, seed: int = 0) -> SplitResult:
    """Image <-> caption retrieval over n held-out scenes; a caption true of several images (two scenes
    can share a description) is a hit for each of them."""
    samples = retrieval_set(world, n, seed=seed)
    images = render([s.scene for s in samples], world.cfg, seed=seed)
    truth = torch.tensor([[satisfies(img.scene, cap.graph, world.cfg) for img in samples] for cap in samples])
    scores = scorer.score(images, [s.caption for s in samples], [s.graph for s in samples])
    res = recall_at_k(scores, truth)
    return SplitResult(None, n, 0, tie_rule="topk", extra=res)


def world_zero_shot(scorer, world: World, n_per_class: int = 4, seed: int = 0) -> SplitResult:
    """One-object scenes classified among every (colour, shape) class with the prompt "a {colour} {shape}";
    also the accuracy on the held-out classes alone."""
    classes = zero_shot_classes(world.cfg)
    prompts = [f"a {c} {s}" for c, s in classes]
    graphs = [SceneGraph([SGObject(s, (c,))], [], p) for (c, s), p in zip(classes, prompts)]
    items = zero_shot_items(world, n_per_class, seed)
    images = render([scene for scene, _ in items], world.cfg, seed=seed)
    labels = torch.tensor([label for _, label in items])
    encoded = [scorer.encode_captions(prompts, graphs)]
    logits = torch.cat(
        [
            scorer.score_encoded(images[i : i + scorer.batch_size], encoded).T
            for i in range(0, len(items), scorer.batch_size)
        ]
    )
    hit = logits.argmax(1) == labels
    held = torch.tensor([world.split.pair_held(*classes[int(y)]) for y in labels])
    extra = {
        "held_out_accuracy": round(hit[held].float().mean().item(), 6) if held.any() else None,
        "classes": len(classes),
    }
    return SplitResult(round(hit.float().mean().item(), 6), len(items), 0, tie_rule="argmax", extra=extra)
