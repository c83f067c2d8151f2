"""Running a trained tagger over songs outside the Trainer (calibration, prediction)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


@torch.no_grad()
def collect_outputs(
    model: nn.Module, decoder: nn.Module, batches: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Logits and decoded labels for every song of the batches, in order.

    Args:
        model: The tagger (a ``LyricsTagger`` or its ``TaggerNet``; switched to eval mode).
        decoder: Turns logits ``[B, T, C]`` and the mask into labels ``[B, T]``.
        batches: Collated batches (see :func:`lyricseg.data.collate_songs`).

    Returns:
        One dict per song: ``index`` (position in its dataset), ``logits`` ``[n, C]`` float,
        ``preds`` ``[n]`` long, ``labels`` ``[n]`` long (-1 where unknown).
    """
    model.eval()
    songs = []
    for batch in batches:
        mask = batch["mask"]
        logits = model(batch["features"], mask, batch.get("ssm")).float()
        preds = decoder(logits, mask)
        for b in range(len(batch["ids"])):
            n = int(mask[b].sum())
            songs.append(
                {
                    "index": int(batch["index"][b]),
                    "logits": logits[b, :n],
                    "preds": preds[b, :n],
                    "labels": batch["labels"][b, :n],
                }
            )
    return songs
