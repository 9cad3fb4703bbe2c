"""C2LIP: CLIP or SigLIP with concept phrases aligned to the pooled image (NPC) and to a
parameter-free attention pooling of its patches (XAC); nothing added at inference."""

from __future__ import annotations

from torch import nn

from ..graphs import collate_concepts
from ..losses import C2LipLoss
from ..models import C2LIP, ClipConfig
from .base import Method, register


class C2Lip(Method):
    name = "c2lip"
    needs_graphs = True  # the concept phrases come from each caption's graph

    def build_model(self, cfg) -> nn.Module:
        return C2LIP(ClipConfig(cfg.model.backbone))

    def build_loss(self, cfg, model, rank, world_size):
        lc = cfg.loss
        sigmoid = lc.sigmoid if lc.sigmoid is not None else model.backbone.logit_bias is not None
        return C2LipLoss(
            sigmoid=sigmoid,
            npc_weight=lc.npc_weight,
            xac_weight=lc.xac_weight,
            match_phrase_text=lc.concept_positives == "text",
            rank=rank,
            world_size=world_size,
        )

    def text_side(self, cfg, tokenizer, captions, graphs, seed):
        return {"tokens": tokenizer(captions), "concepts": collate_concepts(graphs)}

    def forward(self, model, loss_fn, images, text, device):
        c = text["concepts"]
        return loss_fn(**model(images, text["tokens"], c.phrases, c.owner, c.ids))


register(C2Lip())
