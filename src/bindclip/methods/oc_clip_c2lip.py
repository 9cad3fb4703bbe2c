"""OC-CLIP with C2LIP's concept losses added; captions are scored by the structured similarity only."""

from __future__ import annotations

from ..graphs import collate_concepts
from ..losses import C2LipLoss, OCClipC2LipLoss, OCClipLoss
from .base import register
from .oc_clip import OCClip


class OCClipC2Lip(OCClip):
    name = "oc-clip+c2lip"
    find_unused_parameters = False  # the concept losses train the pooled image head too

    def build_loss(self, cfg, model, rank, world_size):
        lc = cfg.loss
        concepts = C2LipLoss(
            sigmoid=False,
            npc_weight=lc.npc_weight,
            xac_weight=lc.xac_weight,
            caption_weight=0.0,
            match_phrase_text=lc.concept_positives == "text",
            rank=rank,
            world_size=world_size,
        )
        return OCClipC2LipLoss(OCClipLoss(lc.contrastive_weight, lc.local_weight), concepts)

    def text_side(self, cfg, tokenizer, captions, graphs, seed):
        return {**super().text_side(cfg, tokenizer, captions, graphs, seed), "concepts": collate_concepts(graphs)}

    def forward(self, model, loss_fn, images, text, device):
        return loss_fn(**model(images, text["graphs"], text["concepts"]))


register(OCClipC2Lip())
