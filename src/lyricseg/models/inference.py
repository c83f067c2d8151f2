"""Running a trained tagger over songs outside the Trainer (calibration, prediction)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from lyricseg.models.components.decoding import section_predictions


@torch.no_grad()
def collect_outputs(
    model: nn.Module, decoder: nn.Module, batches: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Logits and decoded labels for every song of the batches, in order.

    Args:
        model: The tagger (a ``LyricsTagger`` or its ``TaggerNet``; switched to eval mode).
        decoder: Turns logits ``[B, T, C]`` and the mask into labels ``[B, T]``.
        batches: Collated batches (see :func:`lyricseg.data.collate_songs`); each song is
            read with its ``convention``'s verse/chorus head.

    Returns:
        One dict per song: ``index`` (position in its dataset), ``logits`` ``[n, C]`` float,
        ``preds`` ``[n]`` long, ``labels`` ``[n]`` long (-1 where unknown) and, from a net
        with section heads, ``classes`` and ``starts`` ``[n]`` long (decoded together with
        the labels by a joint decoder).
    """
    net = getattr(model, "net", model)
    net.eval()
    songs = []
    for batch in batches:
        mask = batch["mask"]
        heads = net.forward_heads(
            batch["features"], mask, batch.get("ssm"), batch.get("breaks"), batch.get("convention")
        )
        decoded = decoder.decode(heads, mask)
        logits = heads["label"].float()
        sections = section_predictions(heads, decoded, mask) if "section" in heads else None
        for b in range(len(batch["ids"])):
            n = int(mask[b].sum())
            song = {
                "index": int(batch["index"][b]),
                "logits": logits[b, :n],
                "preds": decoded["labels"][b, :n],
                "labels": batch["labels"][b, :n],
            }
            if sections is not None:
                song["classes"], song["starts"] = sections[0][b, :n], sections[1][b, :n]
            if "probs" in heads:  # an ensemble's averaged calibrated P(chorus)
                song["probs"] = heads["probs"][b, :n]
            songs.append(song)
    return songs
