"""C2LIP: concept-centric training of a plain CLIP/SigLIP.

Training adds, beside the caption, the caption's concept phrases (noun phrases with their
attributes, each encoded as its own short text) and the patch tokens projected into the joint space
with the tower's own head. The losses (bindclip.losses.C2LipLoss) align phrases with the pooled
image embedding (NPC) and with a parameter-free cross-modal attention pooling of the patches (XAC).
No parameter is added: at inference this is the plain model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .backbone import encode_texts, image_tokens, joint_space_tokens
from .clip import CLIP


def cross_attention_pool_scores(
    patches: torch.Tensor, phrases: torch.Tensor, temperature: float = 1.0, eps: float = 1e-8
) -> torch.Tensor:
    """[M, N] cos(pool_n(V_m), c_n), pool_n(V) = softmax_t(<V_t, c_n> * temperature) @ V.

    patches [M, T, D] and phrases [N, D] unit-norm. Every phrase attends over every image, which is
    where the loss gets its negatives. The pooled [N, M, D] tensor is never formed: <pool, c> is the
    attention-weighted mean of the similarities, and |pool|^2 = a^T (V V^T) a.
    """
    sim = torch.einsum("nd,mtd->nmt", phrases, patches)
    attn = (sim * temperature).softmax(dim=-1)
    dot = (attn * sim).sum(-1)
    gram = patches @ patches.transpose(1, 2)  # [M, T, T]
    sq_norm = torch.einsum("nmt,mts,nms->nm", attn, gram, attn)
    return (dot / sq_norm.clamp_min(eps * eps).sqrt()).T


class C2LIP(CLIP):
    """A CLIP whose forward also returns concept features for the C2LIP losses."""

    def patch_features(self, images: torch.Tensor):
        """(normalised pooled image features [B, D], normalised joint-space patch tokens [B, T, D])."""
        pooled, (last,) = image_tokens(self.visual, images, [-1])
        return F.normalize(pooled, dim=-1), F.normalize(joint_space_tokens(self.visual, last), dim=-1)

    def encode_phrases(self, phrases: list[str], texts: list[str] | torch.Tensor | None = None):
        """Each distinct phrase through the text tower once (a batch of scenes repeats many); with
        `texts`, the captions too, sharing one embedding lookup -> (phrase features, text features)."""
        index: dict[str, int] = {}
        rows = torch.tensor([index.setdefault(p, len(index)) for p in phrases], device=self.device)
        groups = [self.tokenize(list(index))]
        if texts is not None:
            groups.append(texts if isinstance(texts, torch.Tensor) else self.tokenize(texts))
        feats = encode_texts(self.backbone, groups)
        return feats[0][rows], (feats[1] if texts is not None else None)

    def forward(
        self,
        images: torch.Tensor,
        texts: list[str] | torch.Tensor,
        phrases: list[str] | None = None,
        phrase_owner: torch.Tensor | None = None,
        phrase_ids: torch.Tensor | None = None,
    ) -> dict:
        if phrases is None:
            return super().forward(images, texts)
        image_features, patches = self.patch_features(images)
        phrase_features, text_features = self.encode_phrases(phrases, texts)
        return {
            "image_features": image_features,
            "text_features": text_features,
            "patch_features": patches,
            "phrase_features": phrase_features,
            "phrase_owner": phrase_owner.to(self.device),
            "phrase_ids": None if phrase_ids is None else phrase_ids.to(self.device),
            **self.scale_and_bias(),
        }
