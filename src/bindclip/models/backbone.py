"""open_clip backbones: build by name or JSON config, load local weights, reach the patch tokens.

Any open_clip architecture plugs in. bindclip adds small configs (`bindclip-vit-tiny-32`,
`bindclip-vit-tiny-64`, `bindclip-siglip-tiny-*`) that train on a laptop CPU. Weights only ever come
from a local file, loaded with `weights_only=True`; a hub download is never attempted.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from open_clip.convert import load_big_vision_weights
from open_clip.timm_model import TimmModel
from open_clip.transformer import VisionTransformer, text_global_pool
from safetensors.torch import load_file
from torch import nn

from ..errors import CheckpointError, SpecError
from .preprocess import (
    RAW_PIXELS,
    PreprocessConfig,
    resolve_preprocess,
    warn_quick_gelu,
)

CONFIG_DIR = Path(__file__).parent / "configs"
open_clip.add_model_config(CONFIG_DIR)


@dataclass
class BackboneConfig:
    name: str = "bindclip-vit-tiny-64"  # any open_clip model name (open_clip.list_models())
    config_file: str | None = None  # a JSON model config in open_clip's format; overrides `name`
    pretrained: str | None = None  # local checkpoint (.pt/.bin/.safetensors/.npz); never a hub download
    tag: str | None = None  # open_clip pretrained tag the weights came from (openai, webli, ...): its preprocessing
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)  # empty fields: from tag/model config
    token_layer: int = -1  # ViT block whose patch tokens feed OC-CLIP's binding (-1 last, -3 = L-2)

    def resolved_preprocess(self) -> PreprocessConfig:
        """The preprocessing these weights expect (see bindclip.models.preprocess)."""
        mc = model_config(self)
        if not self.config_file and self.name.startswith("bindclip-"):
            mc = {**mc, "preprocess_cfg": RAW_PIXELS}
        return resolve_preprocess(
            self.config_file or self.name, None if self.config_file else self.tag, mc, self.preprocess
        )


def parse_model_spec(spec: str) -> BackboneConfig:
    """`NAME[@TAG][:WEIGHTS]` -> BackboneConfig; TAG picks open_clip's preprocessing for the weights. NAME may
    be a JSON model config in open_clip's format (`my-arch.json:weights.pt`)."""
    name, _, weights = spec.partition(":")
    if name.endswith(".json"):
        return BackboneConfig(config_file=name, pretrained=weights or None)
    name, _, tag = name.partition("@")
    return BackboneConfig(name=name, pretrained=weights or None, tag=tag or None)


def model_config(cfg: BackboneConfig) -> dict:
    if cfg.config_file:
        try:
            return json.loads(Path(cfg.config_file).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise SpecError(f"{cfg.config_file}: cannot read the model config ({e})") from None
    found = open_clip.get_model_config(cfg.name)
    if found is None:
        raise SpecError(
            f"model.backbone.name: unknown open_clip model {cfg.name!r}; choose one of "
            f"open_clip.list_models() or pass config_file"
        )
    return found


def create_backbone(cfg: BackboneConfig) -> nn.Module:
    """An open_clip CLIP/CustomTextCLIP, randomly initialised, then loaded from `cfg.pretrained`."""
    mc = dict(model_config(cfg))
    mc.get("vision_cfg", {}).pop("timm_model_pretrained", None)  # never fetch timm weights
    custom = mc.pop("custom_text", False) or "hf_model_name" in mc.get("text_cfg", {})
    mc.pop("multimodal_cfg", None)
    mc.pop("preprocess_cfg", None)
    model = (open_clip.CustomTextCLIP if custom else open_clip.CLIP)(**mc)
    if cfg.pretrained:
        if not cfg.config_file:
            warn_quick_gelu(cfg.name, cfg.tag, mc)
        load_weights(model, cfg.pretrained)
    return model


def get_tokenizer(cfg: BackboneConfig):
    """open_clip's BPE tokenizer at the config's context length, unless the config names a Hugging Face
    tokenizer; that one must already be in the local HF cache (nothing is downloaded here)."""
    text_cfg = model_config(cfg).get("text_cfg", {})
    context_length = text_cfg.get("context_length", 77)
    if "hf_tokenizer_name" not in text_cfg:
        return open_clip.tokenizer.SimpleTokenizer(context_length=context_length)
    try:
        return open_clip.tokenizer.HFTokenizer(
            text_cfg["hf_tokenizer_name"],
            context_length=context_length,
            local_files_only=True,
            **text_cfg.get("tokenizer_kwargs", {}),
        )
    except Exception as e:
        raise SpecError(
            f"{cfg.config_file or cfg.name}: tokenizer {text_cfg['hf_tokenizer_name']!r} is not in "
            f"the local Hugging Face cache and cannot be downloaded here ({e})"
        ) from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a local checkpoint: safetensors, or a torch file holding a state dict (possibly
    under 'state_dict'/'model', possibly with DDP's 'module.' prefix)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file (weights load only from local files)")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as e:  # safetensors raises its own error types on a bad header or truncation
            raise CheckpointError(f"{path}: not a readable safetensors file ({first_line(e)})") from None
    if is_torchscript(path):
        raise CheckpointError(
            f"{path}: a TorchScript archive (OpenAI's original CLIP release); bindclip loads weights only, never "
            f"code. Convert it once: python -c \"import torch; torch.save(torch.jit.load('{path}', "
            f"map_location='cpu').state_dict(), '{path.with_suffix('.state.pt')}')\" and pass that file (with "
            f"NAME-quickgelu@openai, the activation OpenAI trained with)"
        )
    sd = load_weights_only(path)
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(sd).__name__}")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def load_weights_only(path: Path):
    """A torch file loaded on CPU with `weights_only=True`; a CheckpointError naming the file when it is
    not one (pickle errors, truncated files, objects weights-only loading refuses)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a loadable weights-only checkpoint ({first_line(e)})") from None


def first_line(e: Exception) -> str:
    """The first line of a library's error (torch's unpickling errors run to paragraphs)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def is_torchscript(path: Path) -> bool:
    """A zip checkpoint holding TorchScript code (a `code/` folder), which weights_only loading refuses."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in n for n in z.namelist()[:200])


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load a local checkpoint, naming the first parameter whose shape does not match. big_vision's .npz
    (SigLIP's original release) goes through open_clip's own converter."""
    if Path(path).suffix == ".npz":
        if not Path(path).is_file():
            raise CheckpointError(f"{path}: no such checkpoint file (weights load only from local files)")
        load_big_vision_weights(model, str(path))
        return
    load_state(model, read_state_dict(path), str(path), strict)


def load_state(model: nn.Module, sd: dict[str, torch.Tensor], where: str, strict: bool = True) -> None:
    own = model.state_dict()
    for k, v in sd.items():
        if k in own and own[k].shape != v.shape:
            raise CheckpointError(
                f"{where}: parameter {k!r} has shape {tuple(v.shape)} in the checkpoint "
                f"but {tuple(own[k].shape)} in the model"
            )
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "attn_mask"]
    if strict and (missing or unexpected):
        what = f"missing {missing[:5]}" if missing else f"unexpected {unexpected[:5]}"
        raise CheckpointError(f"{where}: checkpoint does not match the model ({what})")


# ---- text ------------------------------------------------------------------------------------
def _trimmable(tower: nn.Module) -> bool:
    return (
        getattr(tower, "attn_mask", None) is not None
        and hasattr(tower, "token_embedding")
        and getattr(tower, "text_pool_type", getattr(tower, "pool_type", None)) == "argmax"
        and getattr(tower, "cls_emb", None) is None
        and not getattr(tower, "final_ln_after_pool", False)
    )


def encode_texts(model: nn.Module, groups: list[torch.Tensor], normalize: bool = True) -> list[torch.Tensor]:
    """open_clip's encode_text for several token batches (captions, concept phrases), each run only up
    to its last end-of-text token.

    With a causal mask and EOT (argmax) pooling the trailing padding cannot affect the pooled feature,
    so cutting it is exact and makes short texts several times cheaper. The groups share one
    token-embedding lookup, so the backward pass builds the (vocab x width) embedding gradient once.
    Other text towers run unchanged. Tokens may come from the host: the cut is read there (no device
    sync; a step can run on meta tensors) and only the cut tokens move to the tower's device."""
    tower = getattr(model, "text", model)  # CustomTextCLIP keeps its text tower in .text
    device = next(model.parameters()).device
    if not _trimmable(tower):
        return [model.encode_text(t.to(device, non_blocking=True), normalize=normalize) for t in groups]
    trimmed = [t[:, : int(t.argmax(dim=-1).max()) + 1].to(device, non_blocking=True) for t in groups]
    flat = tower.token_embedding(torch.cat([t.flatten() for t in trimmed]))
    out = []
    for t, x in zip(trimmed, flat.split([t.numel() for t in trimmed])):
        length = t.shape[1]
        x = x.view(*t.shape, -1) + tower.positional_embedding[:length]
        x = tower.transformer(x, attn_mask=tower.attn_mask[:length, :length])
        x = text_global_pool(tower.ln_final(x), t, "argmax")
        proj = tower.text_projection
        if proj is not None:
            x = proj(x) if isinstance(proj, nn.Linear) else x @ proj
        out.append(F.normalize(x, dim=-1) if normalize else x)
    return out


def encode_text(model: nn.Module, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    return encode_texts(model, [tokens], normalize)[0]


# ---- patch tokens -----------------------------------------------------------------------------
def _block_count(visual: nn.Module) -> int:
    if isinstance(visual, VisionTransformer):
        return len(visual.transformer.resblocks)
    if isinstance(visual, TimmModel) and hasattr(visual.trunk, "blocks"):
        return len(visual.trunk.blocks)
    raise TypeError(f"patch tokens need a ViT image tower; got {type(visual).__name__}")


def image_tokens(visual: nn.Module, images: torch.Tensor, layers: list[int]):
    """One forward pass -> (pooled image features [B, D] unnormalised, [patch tokens [B, T, W] of each
    requested block]). Blocks index like Python lists (-1 = last); tokens exclude the CLS token."""
    n = _block_count(visual)
    idx = [i % n for i in layers]
    if isinstance(visual, VisionTransformer):
        out = visual.forward_intermediates(images, indices=sorted(set(idx)), output_fmt="NLC")
        by_layer = dict(zip(sorted(set(idx)), out["image_intermediates"]))
        return out["image_features"], [by_layer[i] for i in idx]
    final, inter = visual.trunk.forward_intermediates(images, indices=sorted(set(idx)), output_fmt="NLC")
    by_layer = dict(zip(sorted(set(idx)), inter))
    pooled = visual.head(visual.trunk.forward_head(final))
    return pooled, [by_layer[i] for i in idx]


def joint_space_tokens(visual: nn.Module, last_tokens: torch.Tensor) -> torch.Tensor:
    """Project last-block patch tokens into the joint embedding space with the tower's own head, so a
    patch lands where the pooled image embedding would be if pooling picked only that patch.

    CLS/avg-pooled open_clip ViT: ln_post then proj. timm MAP attention pool (SigLIP): the value path
    of the pooling head (v half of kv, proj, residual MLP), then the tower's projection.
    """
    if isinstance(visual, VisionTransformer) and visual.attn_pool is None:
        x = visual.ln_post(last_tokens)
        return x @ visual.proj if visual.proj is not None else x
    if isinstance(visual, TimmModel) and getattr(visual.trunk, "attn_pool", None) is not None:
        trunk, pool = visual.trunk, visual.trunk.attn_pool
        x = trunk.norm(last_tokens)
        if pool.pos_embed is not None:
            x = x + pool.pos_embed.unsqueeze(0).to(x.dtype)
        width = pool.kv.weight.shape[0] // 2
        v = F.linear(x, pool.kv.weight[width:], None if pool.kv.bias is None else pool.kv.bias[width:])
        x = pool.proj(v)
        if pool.mlp is not None:
            x = x + pool.mlp(pool.norm(x))
        return visual.head(trunk.fc_norm(x))
    raise TypeError(
        f"no joint-space token projection for {type(visual).__name__} with this pooling; "
        f"supported: CLS/avg-pooled open_clip ViTs and timm ViTs with a MAP head"
    )
