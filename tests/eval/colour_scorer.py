"""A scorer with known answers, to hand-compute every benchmark's accuracy.

Images are flat colours; an image embeds as the one-hot of its nearest palette colour and a caption
as its normalised count of palette words. So score(image, caption) is how much of the caption's
colour vocabulary is the image's colour: captions naming the same colours tie.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bindclip.eval.scorer import Scorer

PALETTE = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255)}


class ColourScorer(Scorer):
    image_size = 8

    def __init__(self, batch_size: int = 2):  # small batches: chunking is exercised too
        self.name, self.batch_size = "colour", batch_size
        self.structured, self.world, self.graph_cache = False, None, {}

    def pixels(self, image) -> torch.Tensor:
        return torch.from_numpy(np.asarray(image.convert("RGB").resize((8, 8))).copy()).permute(2, 0, 1)

    def image_features(self, images) -> torch.Tensor:
        rgb = [
            np.asarray(im.convert("RGB"), dtype=float).reshape(-1, 3).mean(0)
            if hasattr(im, "convert")
            else im.float().mean((1, 2)).numpy()
            for im in images
        ]
        ref = np.array(list(PALETTE.values()), dtype=float)
        nearest = [int(((ref - c) ** 2).sum(1).argmin()) for c in rgb]
        return F.one_hot(torch.tensor(nearest), len(PALETTE)).float()

    def text_features(self, texts) -> torch.Tensor:
        words = list(PALETTE)
        counts = torch.tensor([[t.lower().split().count(w) for w in words] for t in texts], dtype=torch.float)
        return F.normalize(counts, dim=-1)


def save_colour(path, colour: str, size=(16, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, PALETTE[colour]).save(path)
    return path


def save_split(path, left: str, right: str, size=(20, 20)):
    """Left half one colour, right half another: crops pick a side."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, PALETTE[right])
    img.paste(Image.new("RGB", (size[0] // 2, size[1]), PALETTE[left]), (0, 0))
    img.save(path)
    return path
