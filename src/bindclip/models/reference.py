"""Plain-loop definitions of the vectorised pieces: what tests check them against, and the peers the
benchmarks time them against. Written for reading, one pair / one phrase at a time."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .oc_clip import OCCLIP, GraphState


def binding_weights_one_pair(
    model: OCCLIP, patches: torch.Tensor, nodes: torch.Tensor, node_mask: torch.Tensor
) -> torch.Tensor:
    """Inverted attention (or, with attention="standard", each query's softmax over the patches) for one
    caption and one image: patches [T, d], nodes [N, Dt] -> [N, T]."""
    bind = model.binding
    q, qmask = bind.queries(nodes, node_mask)  # [Nq, d]
    keys = bind.to_k(patches)
    for it in range(bind.cfg.iterations):
        weights = torch.zeros(q.shape[0], patches.shape[0])
        if bind.cfg.attention == "standard":
            for n in range(q.shape[0]):  # every real query spreads its unit mass over the patches
                logits = torch.stack([q[n] @ keys[t] for t in range(patches.shape[0])]) * bind.cfg.dim**-0.5
                weights[n] = logits.softmax(0) * qmask[n]
        else:
            for t in range(patches.shape[0]):  # every patch splits its unit mass among the queries
                logits = torch.stack([q[n] @ keys[t] for n in range(q.shape[0])]) * bind.cfg.dim**-0.5
                logits = logits.masked_fill(~qmask, torch.finfo(logits.dtype).min)
                weights[:, t] = logits.softmax(0)
            weights = weights / (weights.sum(1, keepdim=True) + bind.cfg.eps)
        if it + 1 < bind.cfg.iterations:
            q = q + bind.update(weights @ bind.to_v(patches))
    return weights[: nodes.shape[0]]


def score_one_pair(model: OCCLIP, patches: torch.Tensor, g: GraphState, c: int) -> torch.Tensor:
    """S(image, graph c) with explicit slots and explicit MLPs on [relation; slot]."""
    head = model.score_head
    weights = binding_weights_one_pair(model, patches, g.nodes[c], g.node_mask[c])
    slots = weights @ patches  # [N, d]: the attention-weighted mean of the patches
    d_obj, h, _ = head.split
    W = head.slot_proj.weight  # rows: P_s, then the slot halves of f_s and f_o
    total, count = 0.0, 0.0
    a, b = F.softplus(head.alpha), F.softplus(head.beta)
    for i in range(g.nodes.shape[1]):
        if g.node_mask[c, i]:
            s = W[:d_obj] @ slots[i]
            total = total + a * F.cosine_similarity(head.node_proj(g.nodes[c, i]), s, dim=0)
            count = count + a
    for k in range(g.relations.shape[1]):
        if not g.rel_mask[c, k]:
            continue
        r = g.relations[c, k]
        s_sub, s_obj = slots[g.rel_subject[c, k]], slots[g.rel_object[c, k]]
        f_s = head.rel_out_subject(F.gelu(head.rel_in_subject(r) + W[d_obj : d_obj + h] @ s_sub))
        f_o = head.rel_out_object(F.gelu(head.rel_in_object(r) + W[d_obj + h :] @ s_obj))
        total = total + b * F.cosine_similarity(head.rel_proj(r), f_s + f_o, dim=0)
        count = count + b
    return total / max(count, 1e-6)


def score_matrix_loop(model: OCCLIP, patches: torch.Tensor, g: GraphState) -> torch.Tensor:
    """[C, I] by one binding per pair, as a naive implementation would compute the batch."""
    n_cap, n_img = g.nodes.shape[0], patches.shape[0]
    return torch.stack(
        [torch.stack([score_one_pair(model, patches[i], g, c) for i in range(n_img)]) for c in range(n_cap)]
    )


def score_matrix_pairwise(model: OCCLIP, patches: torch.Tensor, g: GraphState) -> torch.Tensor:
    """[C, I] with the model's own vectorised code called once per pair (the per-pair loop peer of
    the benchmark: same arithmetic, no batching across pairs)."""
    n_cap, n_img = g.nodes.shape[0], patches.shape[0]
    rows = []
    for c in range(n_cap):
        one = GraphState(
            *(t[c : c + 1] for t in (g.nodes, g.node_mask, g.relations, g.rel_subject, g.rel_object, g.rel_mask))
        )
        rows.append(torch.cat([model.score_matrix(patches[i : i + 1], one)[0] for i in range(n_img)]))
    return torch.stack(rows)


def cross_attention_pool_loop(
    patches: torch.Tensor, phrases: torch.Tensor, temperature: float = 1.0, eps: float = 1e-8
) -> torch.Tensor:
    """[M, N] as the official C2LIP code computes it: one phrase at a time over all images, forming the
    pooled visual embedding explicitly."""
    cols = []
    for n in range(phrases.shape[0]):
        c = phrases[n]
        attn = ((patches @ c) * temperature).softmax(dim=-1)  # [M, T]
        pooled = F.normalize(torch.bmm(attn[:, None], patches)[:, 0], dim=-1, eps=eps)  # [M, D]
        cols.append(pooled @ c)
    return torch.stack(cols, dim=1)
