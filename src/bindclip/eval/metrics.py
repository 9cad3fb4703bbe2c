"""Retrieval and zero-shot metrics as CLIP_benchmark computes them."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def recall_at_k(scores: torch.Tensor, truth: torch.Tensor, ks=(1, 5, 10)) -> dict:
    """scores, truth [C, I] (captions x images). text->image: a caption hits when one of its images is in
    its top k; image->text: an image hits when any of its captions is in its top k. Ties inside the top k
    follow torch.topk's order."""
    n_captions, n_images = scores.shape
    out = {"text_to_image": {}, "image_to_text": {}}
    for k in ks:
        top_img = scores.topk(min(k, n_images), dim=1).indices  # [C, k]
        out["text_to_image"][f"r@{k}"] = round(truth.gather(1, top_img).any(1).float().mean().item(), 6)
        top_txt = scores.T.topk(min(k, n_captions), dim=1).indices  # [I, k]
        out["image_to_text"][f"r@{k}"] = round(truth.T.gather(1, top_txt).any(1).float().mean().item(), 6)
    return out


def class_embeddings(text_features, prompts: list[list[str]]) -> torch.Tensor:
    """[K, D]: per class the mean of its normalised prompt embeddings, re-normalised (CLIP's recipe)."""
    return torch.stack([F.normalize(text_features(p).mean(0), dim=-1) for p in prompts])


def top_k_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float | None:
    if logits.shape[1] < k:
        return None  # CLIP_benchmark reports NaN; JSON has no NaN
    return round((logits.topk(k, dim=1).indices == labels[:, None]).any(1).float().mean().item(), 6)


def mean_per_class_recall(logits: torch.Tensor, labels: torch.Tensor) -> float:
    pred = logits.argmax(1)
    recalls = [(pred[labels == c] == c).float().mean().item() for c in labels.unique()]
    return round(sum(recalls) / len(recalls), 6)
