"""CLIP + hard negatives (NegCLIP-style): the baseline OC-CLIP is compared against.

Each caption gets up to three negative captions, made by editing its words where its scene graph
locates them: the attributes nearest two objects' nouns exchanged ("a red cube left of a blue ball"
-> "a blue cube left of a red ball"), a relation's subject and object phrases exchanged ("a blue ball
left of a red cube"; not for symmetric relations such as "next to"), the attribute nearest a noun
replaced by another seen in that place in the batch ("a green cube left of a blue ball"). A caption
its graph cannot be found in gets fewer or none. The negatives are appended to the text side of the
contrastive loss: each image picks its caption among the batch's captions and every negative of the
batch (all ranks'); each caption picks its image among the images, as in CLIP. At inference this is
the plain CLIP model.
"""

from __future__ import annotations

import random
import re

import torch

from ..distributed import gather_features, gather_rows
from ..graphs import SYMMETRIC_PREDICATES, SceneGraph
from ..losses import ClipLoss
from .base import register
from .clip import Clip

WORD = re.compile(r"[\w'-]+")
# predicates whose subject and object can be exchanged without changing the meaning: no swap negative
ARTICLE = re.compile(r"\b([Aa]n?) (?=(\w))")


def names_word(word: str, noun: str) -> bool:
    """`word` (as written) is the lemmatised head noun `noun` or a regular plural of it."""
    w = word.lower()
    return w in (noun, noun + "s", noun + "es") or (noun.endswith("y") and w == noun[:-1] + "ies")


def object_spans(words: list[str], graph: SceneGraph) -> list[tuple[int, int] | None]:
    """Per graph object, the word span (first, last) of its mention: the first free occurrence of its
    head noun and the attribute and name words right before it; None where the caption has no match."""
    lower = [w.lower() for w in words]
    taken: set[int] = set()
    spans: list[tuple[int, int] | None] = []
    for o in graph.objects:
        *modifiers, head = o.name.split()
        k = next((i for i, w in enumerate(words) if i not in taken and names_word(w, head)), None)
        if k is None:
            spans.append(None)
            continue
        allowed = set(o.attributes) | set(modifiers)
        start = k
        while start > 0 and start - 1 not in taken and lower[start - 1] in allowed:
            start -= 1
        taken.update(range(start, k + 1))
        spans.append((start, k))
    return spans


def fix_articles(text: str) -> str:
    """ "a" before a vowel becomes "an" and "an" before a consonant "a", after words moved around."""

    def article(m: re.Match) -> str:
        a = m.group(1)
        want = "an" if m.group(2)[0].lower() in "aeiou" else "a"
        return (want.capitalize() if a[0].isupper() else want) + " "

    return ARTICLE.sub(article, text)


class CaptionEditor:
    """Word-level edits of one caption, located by its graph."""

    def __init__(self, caption: str, graph: SceneGraph):
        self.caption, self.graph = caption, graph
        self.matches = list(WORD.finditer(caption))
        self.words = [m.group() for m in self.matches]
        self.spans = object_spans(self.words, graph)
        # object -> word index of its nearest attribute, for the objects that have one
        self.nearest = {i: k for i in range(len(self.spans)) if (k := self.nearest_attribute(i)) is not None}

    def phrase(self, i: int) -> str:
        """Object i's mention as written."""
        first, last = self.spans[i]
        return self.caption[self.matches[first].start() : self.matches[last].end()]

    def nearest_attribute(self, i: int) -> int | None:
        """Word index of the attribute right before object i's noun ("large *blue* diamond"), if any: the
        nearest modifier is usually the intrinsic one (colour, material), so edits exchange like for like
        instead of a size every object shares."""
        span = self.spans[i]
        if span is None:
            return None
        k = span[1] - len(self.graph.objects[i].name.split())
        return k if k >= span[0] and self.words[k].lower() in self.graph.objects[i].attributes else None

    def rewrite(self, replacements: dict[tuple[int, int], str]) -> str:
        """The caption with word spans (first, last) replaced by text, then articles agreed."""
        out, end = [], 0
        for (first, last), text in sorted(replacements.items()):
            out += [self.caption[end : self.matches[first].start()], text]
            end = self.matches[last].end()
        return fix_articles("".join(out) + self.caption[end:])

    def swap_attributes(self, rng: random.Random) -> str | None:
        near = self.nearest
        pairs = [
            (i, j) for i in near for j in near if i < j and self.words[near[i]].lower() != self.words[near[j]].lower()
        ]
        if not pairs:
            return None
        i, j = rng.choice(pairs)
        a, b = near[i], near[j]
        return self.rewrite({(a, a): self.words[b], (b, b): self.words[a]})

    def swap_relation(self, rng: random.Random) -> str | None:
        found = [
            r
            for r in self.graph.relations
            if r.predicate not in SYMMETRIC_PREDICATES
            and self.spans[r.subject]
            and self.spans[r.object]
            and r.subject != r.object
            and self.phrase(r.subject).lower() != self.phrase(r.object).lower()
        ]
        if not found:
            return None
        r = rng.choice(found)
        return self.rewrite(
            {self.spans[r.subject]: self.phrase(r.object), self.spans[r.object]: self.phrase(r.subject)}
        )

    def replace_attribute(self, rng: random.Random, vocabulary: list[str]) -> str | None:
        """The attribute nearest an object's noun replaced by another word seen in that place in the batch."""
        slots = list(self.nearest.items())
        if not slots:
            return None
        i, k = rng.choice(slots)
        options = [a for a in vocabulary if a not in self.graph.objects[i].attributes]
        if not options:
            return None
        return self.rewrite({(k, k): rng.choice(options)})


def hard_negatives(edit: CaptionEditor, rng: random.Random, vocabulary: list[str]) -> list[str]:
    """Up to three distinct negatives of the caption (attribute swap, relation swap, attribute replacement),
    each differing from it."""
    made = [edit.swap_attributes(rng), edit.swap_relation(rng), edit.replace_attribute(rng, vocabulary)]
    return list(dict.fromkeys(n for n in made if n and n.lower() != edit.caption.lower()))


def batch_negatives(captions: list[str], graphs: list[SceneGraph], seed: int) -> list[str]:
    """Every caption's negatives, in caption order; replacement attributes come from the batch."""
    rng = random.Random(seed)
    edits = [CaptionEditor(c, g) for c, g in zip(captions, graphs)]
    vocabulary = sorted({e.words[k].lower() for e in edits for k in e.nearest.values()})
    return [n for e in edits for n in hard_negatives(e, rng, vocabulary)]


class HardNegativeClipLoss(ClipLoss):
    """ClipLoss with negative captions appended to the image-to-text side (NegCLIP's objective)."""

    def forward(self, image_features, text_features, logit_scale, negative_features=None, output_dict: bool = True):
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        if negative_features is not None:  # always given in training, if empty: gathering is collective
            negatives = gather_rows(negative_features)  # every rank's negatives, with their gradient
            rows = (
                image_features
                if self.local_loss
                else gather_features(image_features, self.rank, self.world_size, self.gather_with_grad)
            )
            logits_per_image = torch.cat([logits_per_image, logit_scale * rows @ negatives.T], 1)
        loss = self.contrastive(logits_per_image, logits_per_text)
        return {"contrastive_loss": loss} if output_dict else loss


class ClipHardNegatives(Clip):
    name = "clip-hn"
    needs_graphs = True  # negatives are located by each caption's graph

    def build_loss(self, cfg, model, rank, world_size):
        return HardNegativeClipLoss(rank=rank, world_size=world_size)

    def text_side(self, cfg, tokenizer, captions, graphs, seed):
        negatives = batch_negatives(captions, graphs, seed)
        tokens = tokenizer(captions)
        return {"tokens": tokens, "negatives": tokenizer(negatives) if negatives else tokens[:0]}

    def forward(self, model, loss_fn, images, text, device):
        # captions and negatives in one pass through the (possibly DDP-wrapped) model, then split
        n = len(text["tokens"])
        out = model(images, torch.cat([text["tokens"], text["negatives"]]))
        out["text_features"], out["negative_features"] = out["text_features"][:n], out["text_features"][n:]
        return loss_fn(**out)


register(ClipHardNegatives())
