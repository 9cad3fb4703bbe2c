"""Contrastive objectives, one class per loss, correct across ranks.

Each loss takes the rank's local features; under torch.distributed the features are all-gathered
and the rank's own slice is put back so its gradient survives (or gathered with gradient through
`torch.distributed.nn`). Losses return dicts keyed `*_loss`, as open_clip's do.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .distributed import gather_features, gather_ragged, gather_rows
from .models.c2lip import cross_attention_pool_scores
from .models.chunks import chunk_size, recomputed_in_chunks


class ClipLoss(nn.Module):
    """Symmetric InfoNCE over image-text pairs.

    local_loss: each rank scores only its own images (and texts) against everything gathered,
    which costs n x B instead of B x B; the mean over ranks equals the full-batch loss. The defaults
    (local loss, gather with gradient) also give each rank the full-batch gradient of its own
    samples after DDP's averaging, so the loss keeps its weight beside other losses at any world
    size (open_clip's default, without either, scales the gradient by 1 / world_size).
    """

    def __init__(self, local_loss: bool = True, gather_with_grad: bool = True, rank: int = 0, world_size: int = 1):
        super().__init__()
        self.local_loss, self.gather_with_grad = local_loss, gather_with_grad
        self.rank, self.world_size = rank, world_size

    def get_logits(self, image_features, text_features, logit_scale):
        all_img = gather_features(image_features, self.rank, self.world_size, self.gather_with_grad)
        all_txt = gather_features(text_features, self.rank, self.world_size, self.gather_with_grad)
        if self.local_loss:
            return logit_scale * image_features @ all_txt.T, logit_scale * text_features @ all_img.T
        logits = logit_scale * all_img @ all_txt.T  # [B, B]
        return logits, logits.T

    def contrastive(self, logits_per_image, logits_per_text) -> torch.Tensor:
        """Mean of both directions' cross-entropy; row i's positive is column i (offset by this rank's
        first sample under the local loss). Extra columns on the image side are negatives only."""
        n = logits_per_image.shape[0]
        offset = n * self.rank if self.local_loss and self.world_size > 1 else 0
        labels = torch.arange(n, device=logits_per_image.device) + offset
        return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2

    def forward(self, image_features, text_features, logit_scale, output_dict: bool = True):
        loss = self.contrastive(*self.get_logits(image_features, text_features, logit_scale))
        return {"contrastive_loss": loss} if output_dict else loss


class SigLipLoss(nn.Module):
    """Pairwise sigmoid loss: every image-text pair is a binary match / no-match decision.

    Each rank scores its local images against all gathered texts and divides by its local batch
    size, so the mean over ranks equals the single-process loss on the whole batch.
    """

    def __init__(self, gather_with_grad: bool = True, rank: int = 0, world_size: int = 1):
        super().__init__()
        self.gather_with_grad, self.rank, self.world_size = gather_with_grad, rank, world_size

    def forward(self, image_features, text_features, logit_scale, logit_bias, output_dict: bool = True):
        n = image_features.shape[0]
        all_txt = gather_features(text_features, self.rank, self.world_size, self.gather_with_grad)
        logits = logit_scale * image_features @ all_txt.T + logit_bias  # [n, B]
        labels = -torch.ones_like(logits)
        labels[torch.arange(n), torch.arange(n) + n * self.rank] = 1.0
        loss = -F.logsigmoid(labels * logits).sum() / n
        return {"contrastive_loss": loss} if output_dict else loss


class OCClipLoss(nn.Module):
    """OC-CLIP: image-text InfoNCE on the structured score, plus the local graph loss.

    The local loss is, per image, cross-entropy over [S(x, G), S(x, G~_1), ...] where G~ are G's
    counterfactuals (subject/object swapped, endpoints re-drawn): in-batch captions almost never
    differ from the true one only in relation direction, so without it the relation term is free to
    collapse to a symmetric function. Captions without counterfactuals (no relation) are skipped.
    Each rank scores its images against every caption; the rows are gathered, so every rank computes
    the full-batch loss. `negative_mask` [I, C] True drops a pair from both directions' negatives (the
    local-loss study's shared-object ablation).
    """

    def __init__(self, contrastive_weight: float = 1.0, local_weight: float = 1.0, mask_shared_objects: bool = False):
        super().__init__()
        self.contrastive_weight, self.local_weight = contrastive_weight, local_weight
        self.mask_shared_objects = mask_shared_objects

    def forward(
        self,
        logits_per_image,
        logit_scale=None,
        counterfactual_logits=None,
        counterfactual_mask=None,
        negative_mask=None,
        output_dict: bool = True,
    ):
        logits = gather_rows(logits_per_image)  # [I, C], I == C
        if negative_mask is not None:
            logits = logits.masked_fill(negative_mask, float("-inf"))
        labels = torch.arange(logits.shape[0], device=logits.device)
        contrastive = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        out = {"contrastive_loss": self.contrastive_weight * contrastive}
        if counterfactual_logits is not None and self.local_weight:
            cf = gather_rows(counterfactual_logits)
            mask = gather_rows(counterfactual_mask.long(), with_grad=False).bool()
            # the mean over captions with a counterfactual, written without a data-dependent branch or
            # shape (so a step can be counted on meta tensors): a row without one keeps only its own
            # graph, whose cross-entropy is exactly 0
            has = mask[:, 1:].any(1)
            ce = F.cross_entropy(
                cf.masked_fill(~mask, float("-inf")), cf.new_zeros(cf.shape[0], dtype=torch.long), reduction="none"
            )
            local = ce.sum() / has.sum().clamp_min(1)
            out["local_graph_loss"] = self.local_weight * local
        return out if output_dict else sum(out.values())


def concept_positives(owner: torch.Tensor, n_images: int, ids: torch.Tensor | None = None) -> torch.Tensor:
    """[M, N] bool: image m is a positive of phrase n. By owner, or, given phrase ids, every image whose
    caption has the same phrase text (a batch of scenes repeats "red circle"; labelling all but one
    of those images negative would teach the model to tell identical concepts apart)."""
    own = F.one_hot(owner, n_images).float()  # [N, M]
    if ids is None:
        return own.T > 0
    same = (ids[:, None] == ids[None, :]).float()  # [N, N]
    return (same @ own).T > 0


def distinct_rows(features: torch.Tensor, ids: torch.Tensor):
    """(the first row of each distinct id, index mapping every row to its distinct row)."""
    _, inverse = torch.unique(ids, return_inverse=True)
    n = int(inverse.max()) + 1
    order = torch.arange(len(ids), device=ids.device)
    first = torch.full((n,), len(ids), device=ids.device).scatter_reduce(0, inverse, order, "amin")
    return features[first], inverse


def sigmoid_concept_loss(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Binary match / no-match per (image, phrase), summed and divided by the phrase count (C2LIP)."""
    labels = positives.float() * 2 - 1
    return -F.logsigmoid(labels * logits).sum() / logits.shape[1]


def softmax_concept_loss(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Multi-positive InfoNCE, both ways: each phrase picks its image(s) among all images, each image
    picks its phrases among all phrases (targets spread evenly over the positives)."""
    pos = positives.float()
    per_phrase = -(pos / pos.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0).mean()
    # over the images with a phrase, without a data-dependent shape: an image without one adds 0
    has = positives.any(1)
    per_image_terms = pos / pos.sum(1, keepdim=True).clamp_min(1) * logits.log_softmax(1)
    per_image = -per_image_terms.sum() / has.sum().clamp_min(1)
    return (per_phrase + per_image) / 2


def pooled_scores(patches: torch.Tensor, phrases: torch.Tensor, temperature: float, budget_gib: float) -> torch.Tensor:
    """cross_attention_pool_scores [M, N], over chunks of phrases recomputed in the backward pass once the
    [phrases x images x T] tensors it keeps (about four: similarities, weights and their products) pass
    the budget: every phrase of every rank attends over every local image, so they grow with the
    global batch. Equal to the unchunked scores, values and gradients (tested)."""
    per_phrase = 4 * patches.shape[0] * patches.shape[1] * patches.element_size()
    chunk = chunk_size(len(phrases), per_phrase, budget_gib)
    if chunk >= len(phrases):
        return cross_attention_pool_scores(patches, phrases, temperature)
    pool = lambda v, c: cross_attention_pool_scores(v, c, temperature)
    return recomputed_in_chunks(pool, patches, [phrases], chunk, dim=1)


class C2LipLoss(nn.Module):
    """C2LIP: caption contrastive loss + lambda_npc * L_npc + lambda_xac * L_xac.

    L_npc scores the pooled image embedding against every phrase of the batch, L_xac the phrase's own
    cross-attention pooling of each image's patches (models.c2lip.cross_attention_pool_scores). Both
    use the model's logit scale (and bias, sigmoid form). Across ranks the phrases are gathered with
    their owners re-offset to global image ids (the official NPC loss indexes global owners into
    local rows), each rank scores its own images against all phrases, and the rows are gathered so
    every rank computes the full-batch concept losses.
    """

    def __init__(
        self,
        sigmoid: bool = True,
        npc_weight: float = 1.0,
        xac_weight: float = 0.01,
        xac_temperature: float = 1.0,
        match_phrase_text: bool = True,
        caption_weight: float = 1.0,
        rank: int = 0,
        world_size: int = 1,
        xac_chunk_budget_gib: float = 2.0,
    ):
        super().__init__()
        self.sigmoid, self.npc_weight, self.xac_weight = sigmoid, npc_weight, xac_weight
        self.xac_chunk_budget_gib = xac_chunk_budget_gib
        self.caption_weight = caption_weight  # 0 when another loss scores the captions (OC-CLIP + C2LIP)
        self.xac_temperature, self.match_phrase_text = xac_temperature, match_phrase_text
        self.rank, self.world_size = rank, world_size
        self.caption_loss = (
            SigLipLoss(rank=rank, world_size=world_size) if sigmoid else ClipLoss(rank=rank, world_size=world_size)
        )

    def forward(
        self,
        image_features,
        text_features,
        patch_features,
        phrase_features,
        phrase_owner,
        logit_scale,
        logit_bias=None,
        phrase_ids=None,
        output_dict: bool = True,
    ):
        out = {}
        if self.caption_weight:
            args = (logit_scale, logit_bias) if self.sigmoid else (logit_scale,)
            out = {
                k: self.caption_weight * v for k, v in self.caption_loss(image_features, text_features, *args).items()
            }
        counts = [p.shape[0] for p in gather_ragged(image_features.detach(), with_grad=False)]
        owners = gather_ragged(phrase_owner, with_grad=False)
        owner = torch.cat([o + sum(counts[:r]) for r, o in enumerate(owners)])
        phrases = gather_rows(phrase_features)
        ids = None if phrase_ids is None else gather_rows(phrase_ids, with_grad=False)
        positives = concept_positives(owner, sum(counts), ids if self.match_phrase_text else None)
        # equal ids are equal texts, hence equal features: score each distinct phrase once
        scored, columns = (phrases, slice(None)) if ids is None else distinct_rows(phrases, ids)
        bias = logit_bias if self.sigmoid and logit_bias is not None else 0.0
        loss = sigmoid_concept_loss if self.sigmoid else softmax_concept_loss
        if self.npc_weight:
            npc = gather_rows(image_features @ scored.T)[:, columns]
            out["npc_loss"] = self.npc_weight * loss(logit_scale * npc + bias, positives)
        if self.xac_weight:
            pooled = pooled_scores(patch_features, scored, self.xac_temperature, self.xac_chunk_budget_gib)
            xac = gather_rows(pooled)[:, columns]
            out["xac_loss"] = self.xac_weight * loss(logit_scale * xac + bias, positives)
        return out if output_dict else sum(out.values())


class OCClipC2LipLoss(nn.Module):
    """OC-CLIP's global and local losses with C2LIP's concept losses (NPC, XAC) added; the captions
    are scored by OC-CLIP's structured similarity only."""

    def __init__(self, oc_clip: OCClipLoss, concepts: C2LipLoss):
        super().__init__()
        self.oc_clip, self.concepts = oc_clip, concepts

    def forward(
        self,
        logits_per_image,
        logit_scale,
        image_features,
        patch_features,
        phrase_features,
        phrase_owner,
        counterfactual_logits=None,
        counterfactual_mask=None,
        phrase_ids=None,
        logit_bias=None,
    ):
        out = self.oc_clip(logits_per_image, logit_scale, counterfactual_logits, counterfactual_mask)
        out.update(
            self.concepts(
                image_features, None, patch_features, phrase_features, phrase_owner, logit_scale, logit_bias, phrase_ids
            )
        )
        return out
