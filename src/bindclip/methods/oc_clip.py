"""OC-CLIP: scene-graph nodes bound to image patches, the structured score, global + local graph losses."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError
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
        if cfg.loss.mask_shared_objects and world_size > 1:  # the mask compares this rank's node texts
            raise ConfigError("loss.mask_shared_objects: an ablation for single-process runs (world size 1)")
        return OCClipLoss(cfg.loss.contrastive_weight, cfg.loss.local_weight, cfg.loss.mask_shared_objects)

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
        out = model(images, text["graphs"])
        if loss_fn.mask_shared_objects:
            out["negative_mask"] = text["graphs"].shared_object_mask().to(device)
        return loss_fn(**out)


register(OCClip())
