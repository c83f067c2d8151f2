"""Running a trained tagger over songs outside the Trainer (calibration, prediction)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from lyricseg.models.tagger import LyricsTagger


@torch.no_grad()
def collect_outputs(model: LyricsTagger, batches: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Logits and decoded labels for every song of the batches, in order.

    Args:
        model: The tagger (switched to eval mode here).
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
        preds = model.decoder(logits, mask)
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
