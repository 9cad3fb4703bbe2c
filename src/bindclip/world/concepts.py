"""The synthetic world's vocabulary and its configuration.

Every count is a parameter, so the same code draws bindclip's default world (8 shapes x 8
colours x 2 sizes, 1-4 objects anywhere) and the binding paper's CLEVR-2D (8 colours x 3 shapes,
two fixed positions).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import WorldConfigError

# well separated in RGB (pairwise distance >= ~120) on a dark background
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 235),
    "yellow": (240, 220, 40),
    "purple": (150, 60, 210),
    "orange": (250, 140, 20),
    "cyan": (40, 210, 220),
    "pink": (250, 130, 200),
    "white": (240, 240, 240),
    "brown": (140, 85, 40),
}
# "cross" is drawn but not a default: spaCy's small English model reads it as a verb in ~5 % of
# captions ("a small cyan cross above ..."), so parsed graphs would disagree with the gold ones
SHAPES = ("circle", "square", "triangle", "star", "heart", "diamond", "pentagon", "hexagon", "cross")
SIZES: dict[str, float] = {"small": 0.085, "large": 0.14}  # radius as a fraction of the canvas side
# canonical relations; each is stated with one of its phrasings
RELATIONS: dict[str, tuple[str, ...]] = {
    "left of": ("to the left of", "on the left of", "left of"),
    "right of": ("to the right of", "on the right of", "right of"),
    "above": ("above",),
    "below": ("below",),
    "next to": ("next to",),  # side by side and close; symmetric, so never a swap negative
}
INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above", "next to": "next to"}
NUMBER_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")


@dataclass
class WorldConfig:
    # vocabulary
    shapes: tuple[str, ...] = SHAPES[:8]  # names from SHAPES
    colours: tuple[str, ...] = tuple(list(COLOURS)[:8])  # names from COLOURS
    sizes: tuple[str, ...] = ("small", "large")  # names from SIZES
    # scenes
    min_objects: int = 1
    max_objects: int = 4
    positions: tuple[tuple[float, float], ...] = ()  # fixed (x, y) slots in [0, 1]; () = anywhere
    # rendering
    image_size: int = 64  # pixels, 32..224
    background: tuple[int, int, int] = (28, 28, 32)
    texture: float = 0.03  # std of background noise, as a fraction of 255
    position_jitter: float = 0.02  # fraction of the canvas, for fixed positions
    size_jitter: float = 0.1  # relative
    hue_jitter: float = 8.0  # per channel, in 0..255 units
    relation_margin: float = 0.5  # a relation holds when the centres differ by > margin x the larger radius
    gap: float = 0.02  # minimum free space between objects, fraction of canvas

    def __post_init__(self):
        self.shapes, self.colours, self.sizes = tuple(self.shapes), tuple(self.colours), tuple(self.sizes)
        self.positions = tuple(tuple(p) for p in self.positions)
        self.validate()

    def validate(self):
        for name, values, known in (
            ("shapes", self.shapes, SHAPES),
            ("colours", self.colours, COLOURS),
            ("sizes", self.sizes, SIZES),
        ):
            unknown = [v for v in values if v not in known]
            if unknown:
                raise WorldConfigError(f"{name}: unknown {unknown}; known: {sorted(known)}")
            if not values:
                raise WorldConfigError(f"{name}: at least one is needed")
            if len(set(values)) != len(values):
                raise WorldConfigError(f"{name}: duplicates in {list(values)}")
        if not 32 <= self.image_size <= 224:
            raise WorldConfigError(f"image_size: {self.image_size} px is outside 32..224")
        if not 1 <= self.min_objects <= self.max_objects <= 4:
            raise WorldConfigError(
                f"min_objects/max_objects: need 1 <= min ({self.min_objects}) <= max ({self.max_objects}) <= 4"
            )
        if self.positions and len(self.positions) < self.max_objects:
            raise WorldConfigError(f"positions: {len(self.positions)} fixed slots for up to {self.max_objects} objects")
        # room for max_objects large objects: their discs must fit side by side on the canvas
        r = max(SIZES[s] for s in self.sizes) * (1 + self.size_jitter)
        if not self.positions:
            per_row = int(1 / (2 * r + self.gap))
            if per_row * per_row < self.max_objects:
                raise WorldConfigError(
                    f"max_objects: {self.max_objects} objects of radius {r:.2f} do not fit on one canvas"
                )
        if r * self.image_size < 3:
            raise WorldConfigError(
                f"image_size: {self.image_size} px draws objects of radius "
                f"{r * self.image_size:.1f} px; at least 3 px are needed to tell shapes apart"
            )

    @classmethod
    def clevr2d(cls, **kw) -> WorldConfig:
        """The binding paper's CLEVR-2D: 8 colours x 3 shapes, two fixed positions side by side."""
        base = dict(
            shapes=("circle", "square", "triangle"),
            colours=tuple(list(COLOURS)[:8]),
            sizes=("large",),
            min_objects=2,
            max_objects=2,
            positions=((0.28, 0.5), (0.72, 0.5)),
        )
        return cls(**{**base, **kw})
