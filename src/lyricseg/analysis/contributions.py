"""How much each loss term adds to the total, from the logged (unweighted) components.

Losses log their terms unweighted (``train/loss/<term>``); the total is a weighted sum whose
weights live in the run's config (or, for learned compound weights, in
``train/loss_weight/<name>``). The contribution of a term is ``weight x term``; its share is
``|contribution| / sum |contributions|`` (the entropy bonus enters with a minus sign).
"""

from __future__ import annotations

from dataclasses import dataclass

from lyricseg.analysis.runs import RunData

#: Components whose contribution counts as "the boundary term".
BOUNDARY_NAMES = ("boundary",)
#: Components that penalize over-confidence.
CONFIDENCE_NAMES = ("confidence",)
#: Components that smooth predictions within true segments.
CONSISTENCY_NAMES = ("consistency",)


@dataclass
class LossTerms:
    """Weights of a run's loss terms.

    Attributes:
        loss_name: The loss class (``BoundaryAwareLoss``...) or ``unknown``.
        weights: ``{component: weight}`` for the components whose weight is known; a component
            absent here enters with weight 1 (``weights_known`` then is False).
        weights_known: Whether every weight came from the config or the logs.
        boundary_folded: The boundary emphasis is inside ``ce`` (boundary-aware loss with
            ``use_boundary_as_primary``), so it has no separate contribution.
    """

    loss_name: str
    weights: dict[str, float]
    weights_known: bool = True
    boundary_folded: bool = False


def _number(value: object, default: float) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def component_names(run: RunData, split: str = "train") -> list[str]:
    """Top-level loss components logged for ``split`` (sub-terms ``<name>/<term>`` excluded)."""
    prefix = f"{split}/loss/"
    names = {k[len(prefix) :] for k in run.history if k.startswith(prefix)}
    return sorted(n for n in names if "/" not in n)


def loss_terms(run: RunData, epoch: int | None = None) -> LossTerms:
    """The weight of every logged component of a run's loss at ``epoch`` (default: last)."""
    target = str(run.select("loss._target_", "") or "")
    name = target.rsplit(".", 1)[-1] if target else "unknown"
    get = run.select
    if name == "BoundaryAwareLoss":
        primary = bool(get("loss.use_boundary_as_primary", True))
        boundary_weight = _number(get("loss.boundary_weight", 1.0), 1.0)
        return LossTerms(
            name,
            {
                "ce": 1.0,
                "boundary": boundary_weight - 1.0,
                "consistency": _number(get("loss.segment_consistency_lambda", 0.0), 0.0),
                "confidence": _number(get("loss.conf_penalty_lambda", 0.0), 0.0),
                "entropy": -_number(get("loss.entropy_lambda", 0.0), 0.0),
            },
            boundary_folded=primary and boundary_weight != 1.0,
        )
    if name == "CrossEntropyLoss":
        entropy = -_number(get("loss.entropy_lambda", 0.0), 0.0)
        return LossTerms(name, {"ce": 1.0, "entropy": entropy})
    if name == "CompoundLoss":
        weights: dict[str, float] = {}
        known = True
        configured = get("loss.components", {}) or {}
        fixed = get("loss.weighting", "fixed") == "fixed"
        last = epoch if epoch is not None else run.last_epoch
        for component in component_names(run):
            logged = run.at(f"train/loss_weight/{component}", last)
            if logged is None:
                logged = run.final(f"train/loss_weight/{component}")
            if logged is not None:
                weights[component] = logged
            elif fixed and isinstance(configured, dict) and component in configured:
                weights[component] = _number(configured[component].get("weight"), 1.0)
            else:
                known = False
        return LossTerms(name, weights, weights_known=known)
    if name in ("FocalLoss", "TverskyLoss", "BoundaryLoss"):
        return LossTerms(name, {c: 1.0 for c in component_names(run)})
    return LossTerms(name, {}, weights_known=False)


def contributions(run: RunData, split: str = "train", epoch: int | None = None) -> dict[str, float]:
    """``{component: weight x value}`` at ``epoch`` (default: the last epoch logged).

    Returns:
        An empty dict when the run logged no components for ``split``.
    """
    names = component_names(run, split)
    if not names:
        return {}
    if epoch is None:
        epochs = {e for n in names for e in run.history.get(f"{split}/loss/{n}", {})}
        if not epochs:
            return {}
        epoch = max(epochs)
    terms = loss_terms(run, epoch)
    out = {}
    for name in names:
        value = run.at(f"{split}/loss/{name}", epoch)
        if value is not None:
            out[name] = terms.weights.get(name, 1.0) * value
    return out


def contribution_history(
    run: RunData, split: str = "train"
) -> dict[str, tuple[list[int], list[float]]]:
    """``{component: (epochs, weight x value)}`` over the run."""
    out = {}
    for name in component_names(run, split):
        epochs, values = run.series(f"{split}/loss/{name}")
        weighted = []
        for epoch, value in zip(epochs, values, strict=True):
            weighted.append(loss_terms(run, epoch).weights.get(name, 1.0) * value)
        out[name] = (epochs, weighted)
    return out


def shares(parts: dict[str, float]) -> dict[str, float]:
    """``{component: |contribution| / sum |contributions|}`` (empty when all are zero)."""
    total = sum(abs(v) for v in parts.values())
    if total <= 0:
        return {}
    return {k: abs(v) / total for k, v in parts.items()}


def share_of(run: RunData, names: tuple[str, ...], split: str = "train") -> float | None:
    """Share of the total loss at the last epoch taken by the components named ``names``.

    A component counts when its name contains one of ``names`` (so a compound component
    ``boundary_dist`` counts as a boundary term).

    Returns:
        None when the run has no such component (e.g. the boundary share of a cross-entropy
        run, or of a boundary-aware run whose boundary emphasis is folded into ``ce``).
    """
    part = shares(contributions(run, split))
    present = [k for k in part if any(n in k for n in names)]
    if not present:
        return None
    return sum(part[k] for k in present)
