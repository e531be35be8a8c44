"""Agreement with the user's held-out judgements, and whether a new adapter goes live. Pure arithmetic: no torch.

The trainer scores every held-out answer by its mean per-token log-likelihood (`tuitune.training.agreement`) under
the base, the live model and the new adapter. Each held-out judgement then has an outcome per model:

- a pair (a better and a worse answer to one prompt): 1 when the better answer is the likelier, 0 when the worse
  is, 1/2 when they tie;
- a thumb (one answer judged good or bad): 1 when the model moves it the right way from the base (a good answer
  likelier than under the base, a bad one less likely), 0 when the wrong way, 1/2 when it does not move it (the base
  itself: a thumb says nothing about the base). "The right way" is counted from the model's `common_shift`, where
  the held-out answers of both labels exist: training that makes every answer in the user's domain likelier moves
  bad answers up too, and only a move past the midpoint of the good and the bad answers' moves tells the labels
  apart.

A model's agreement is its mean outcome, shown with n and a 95% Wilson interval; below `MIN_N` held-out
judgements it is "too few to tell". `decide` promotes a new adapter (train.promote = better) when its agreement
beats the live model's by a one-sided exact sign test at `ALPHA` on the judgements where their outcomes differ, and
the check questions did not fall by more than `HARM_MARGIN` from the base.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MIN_N = 6  # below this no figure is shown and `better` promotes nothing (5 of 5 better is p = 0.031)
ALPHA = 0.05  # the sign test's level
HARM_MARGIN = 0.05  # check-set accuracy may fall this much from the base before an adapter is held back
TIE = 1e-6  # log-likelihood differences below this are no move


def outcome(unit: dict[str, Any], scores: Sequence[float], base: Sequence[float], shift: float = 0.0) -> float:
    """1, 0 or 1/2 for one held-out judgement; `scores` are its answers' mean log-likelihoods under the model
    ((better, worse) for a pair, (answer,) for a thumb), `base` the same under the base, `shift` the model's
    `common_shift`."""
    pair = unit["kind"] == "pair"
    margin = scores[0] - scores[1] if pair else (scores[0] - base[0] - shift) * (1 if unit["good"] else -1)
    return 0.5 if abs(margin) < TIE else float(margin > 0)


def common_shift(
    units: Sequence[dict[str, Any]], scores: Sequence[Sequence[float]], base: Sequence[Sequence[float]]
) -> float:
    """How far the model moved every held-out answer from the base, whatever its label: the midpoint between the
    mean move of the answers judged good (pairs' better ones too) and of those judged bad; 0 unless both exist. A
    thumb agrees when its answer moved the right way from there, so an adapter that made all text of the user's
    kind likelier (an SFT term does) is not credited for the good thumbs nor blamed for the bad ones."""
    moves: dict[bool, list[float]] = {True: [], False: []}
    for unit, own, theirs in zip(units, scores, base, strict=True):
        if unit["kind"] == "pair":
            moves[True].append(own[0] - theirs[0])
            moves[False].append(own[1] - theirs[1])
        else:
            moves[unit["good"]].append(own[0] - theirs[0])
    if not moves[True] or not moves[False]:
        return 0.0
    return (sum(moves[True]) / len(moves[True]) + sum(moves[False]) / len(moves[False])) / 2


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a share (halves allowed in the count)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sign_test(wins: int, losses: int) -> float:
    """One-sided exact sign test: P(at least `wins` of `wins + losses` fair coin flips), the p-value that the new
    model is no better where the two differ."""
    n = wins + losses
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


def agreement(units: Sequence[dict[str, Any]], scores: dict[str, list[list[float]]]) -> dict[str, Any]:
    """The figures of each scored model ("base", "live", "adapter") and the paired comparison adapter vs live.
    `scores[model][i]` are unit i's answer scores under that model."""
    outcomes = {}
    for model, per_unit in scores.items():
        shift = common_shift(units, per_unit, scores["base"])
        outcomes[model] = [outcome(u, s, b, shift) for u, s, b in zip(units, per_unit, scores["base"], strict=True)]
    n = len(units)
    figures: dict[str, Any] = {
        "n": n,
        "pairs": sum(1 for u in units if u["kind"] == "pair"),
        "thumbs": sum(1 for u in units if u["kind"] == "thumb"),
        "enough": n >= MIN_N,
    }
    for model, values in outcomes.items():
        figures[model] = round(sum(values) / n, 3) if n else None
        figures[f"{model}_ci"] = [round(x, 3) for x in wilson(sum(values), n)]
    live = outcomes.get("live", outcomes["base"])
    new = outcomes.get("adapter", live)
    figures["wins"] = sum(1 for a, b in zip(new, live, strict=True) if a > b)
    figures["losses"] = sum(1 for a, b in zip(new, live, strict=True) if a < b)
    figures["p"] = round(sign_test(figures["wins"], figures["losses"]), 4)
    return figures


def harmed(effect: dict[str, Any] | None) -> bool:
    """The adapter answers the check questions worse than the base allows."""
    effect = effect or {}
    try:
        return float(effect["adapter_accuracy"]) < float(effect["base_accuracy"]) - HARM_MARGIN
    except (KeyError, TypeError, ValueError):
        return False


def decide(mode: str, figures: dict[str, Any] | None, effect: dict[str, Any] | None) -> dict[str, Any]:
    """{"promote": bool, "reason": one line, "mode"}: what train.promote makes of the measured figures."""
    reason = evidence(figures, effect)
    if mode == "always":
        return {"promote": True, "mode": mode, "reason": f"train.promote = always; {reason}"}
    if mode == "never":
        return {"promote": False, "mode": mode, "reason": f"train.promote = never; {reason}"}
    if harmed(effect):
        return {"promote": False, "mode": mode, "reason": f"the checks fell; {reason}"}
    if not figures or not figures.get("enough"):
        return {"promote": False, "mode": mode, "reason": f"too few held-out judgements to tell: {reason}"}
    better = figures["adapter"] > figures["live"] and figures["p"] < ALPHA
    verdict = "better than the live model" if better else "not better than the live model by evidence"
    return {"promote": better, "mode": mode, "reason": f"{verdict}: {reason}"}


def evidence(figures: dict[str, Any] | None, effect: dict[str, Any] | None) -> str:
    """`agreement 0.83 vs live 0.50 on 12 held-out judgements (9 better, 1 worse, p=0.011); checks 0.53→0.57`."""
    parts = []
    if figures and figures.get("error"):
        parts.append(f"the held-out judgements were not scored ({figures['error']})")
    elif not figures or not figures.get("n"):
        parts.append("no held-out judgements yet")
    elif not figures.get("enough"):
        parts.append(f"{figures['n']} held-out judgements, {MIN_N} needed")
    else:
        parts.append(
            f"agreement {figures['adapter']:.2f} vs live {figures['live']:.2f} on {figures['n']} held-out "
            f"judgements ({figures['wins']} better, {figures['losses']} worse, p={figures['p']:.3f})"
        )
    if effect and isinstance(effect.get("adapter_accuracy"), (int, float)):
        parts.append(f"checks {effect['base_accuracy']:.2f}→{effect['adapter_accuracy']:.2f}")
    return "; ".join(parts)


def agreement_line(figures: dict[str, Any] | None) -> str:
    """`agreement base 0.50 → adapter 0.83 (95% 0.55–0.95, n 12; live 0.50)`, or why there is no figure."""
    if figures and figures.get("error"):
        return f"agreement: not scored ({figures['error']})"
    if not figures or not figures.get("n"):
        return "agreement: no held-out judgements yet"
    if not figures.get("enough"):
        return f"agreement: too few held-out judgements to tell ({figures['n']}, {MIN_N} needed)"
    lo, hi = figures["adapter_ci"]
    live = f"; live {figures['live']:.2f}" if "live" in figures else ""
    return f"agreement {figures['base']:.2f}→{figures['adapter']:.2f} (95% {lo:.2f}–{hi:.2f}, n {figures['n']}{live})"


PROMOTION_WORDS = {"promoted": "promoted", "held_back": "held back", "promoted_by_hand": "by hand"}  # the store's


def agreement_change(figures: Any) -> str:
    """`0.50→0.83` (base→adapter), `few (5)` below `MIN_N`, `error`, or '' when not measured: for tables."""
    if not isinstance(figures, dict) or not figures.get("n"):
        return ""
    if figures.get("error"):
        return "error"
    if not figures.get("enough"):
        return f"few ({figures['n']})"
    return f"{figures['base']:.2f}→{figures['adapter']:.2f}"
