"""OC-CLIP: scene-graph nodes bound to image patches, the structured score, global + local graph losses."""

from __future__ import annotations

from torch import nn

from ..graphs import collate_graphs
from ..losses import OCClipLoss
from ..models import OCCLIP, OCClipConfig
from .base import Method, register


class OCClip(Method):
    name = "oc-clip"
    needs_graphs = True
    find_unused_parameters = True  # it scores slots, not the pooled image embedding: the image head gets no gradient

    def build_model(self, cfg) -> nn.Module:
        m = cfg.model
        return OCCLIP(
            OCClipConfig(
                backbone=m.backbone,
                binding=m.binding,
                obj_dim=m.obj_dim,
                rel_dim=m.rel_dim,
                rel_hidden=m.rel_hidden,
                max_nodes=m.max_nodes,
                max_relations=m.max_relations,
                counterfactuals=m.counterfactuals,
                n_shuffled=m.n_shuffled,
            )
        )

    def build_loss(self, cfg, model, rank, world_size):
        return OCClipLoss(contrastive_weight=cfg.loss.contrastive_weight, local_weight=cfg.loss.local_weight)

    def text_side(self, cfg, tokenizer, captions, graphs, seed):
        m = cfg.model
        return {
            "graphs": collate_graphs(
                graphs,
                m.max_nodes,
                m.max_relations,
                counterfactuals=m.counterfactuals,
                n_shuffled=m.n_shuffled,
                seed=seed,
            )
        }

    def forward(self, model, loss_fn, images, text, device):
        return loss_fn(**model(images, text["graphs"]))


register(OCClip())
