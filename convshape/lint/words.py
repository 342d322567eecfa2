"""Words for the points of an input by its number of spatial axes: positions of a sequence (audio,
text, signals), pixels of an image, voxels of a volume. Lint messages choose them by rank."""
from __future__ import annotations

POINT = {1: "position", 2: "pixel", 3: "voxel"}
WHOLE = {1: "sequence", 2: "image", 3: "volume"}


def point(rank: int, count=2) -> str:
    """'pixel' / 'pixels' for a 2-D input, 'position(s)' for 1-D, 'voxel(s)' for 3-D."""
    word = POINT.get(rank, "position")
    return word if count == 1 else word + "s"


def whole(rank: int) -> str:
    """'image' for a 2-D input, 'sequence' for 1-D, 'volume' for 3-D, else 'input'."""
    return WHOLE.get(rank, "input")
