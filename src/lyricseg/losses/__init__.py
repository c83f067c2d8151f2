"""Segmentation losses sharing one signature.

``loss(logits [B, T, C], target [B, T], mask [B, T]) -> (total, {name: term})``; each loss
masks padding itself. See ``docs/losses.md`` for formulas and when to use which.
"""

from lyricseg.losses.base import SegmentationLoss
from lyricseg.losses.boundary import BoundaryLoss
from lyricseg.losses.boundary_aware import BoundaryAwareLoss
from lyricseg.losses.compound import CompoundLoss
from lyricseg.losses.cross_entropy import CrossEntropyLoss
from lyricseg.losses.focal import FocalLoss
from lyricseg.losses.tversky import TverskyLoss

__all__ = [
    "BoundaryAwareLoss",
    "BoundaryLoss",
    "CompoundLoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "SegmentationLoss",
    "TverskyLoss",
]
