"""Scoring's panel on the lead page: "why is this lead HOT?" and its trend."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string

from leads.models import Lead
from leads.panels import register_lead_panel
from scoring.selectors import lead_explanation, lead_score_history

TREND_WIDTH = 270
TREND_HEIGHT = 48


def trend_polyline(history: list[dict]) -> str:
    """SVG polyline points of the daily scores, scaled to the chart box."""
    if not history:
        return ""
    scores = [point["score"] for point in history]
    low, high = min(scores), max(scores)
    span = (high - low) or 1
    step = TREND_WIDTH / max(len(scores) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{TREND_HEIGHT - 2 - (score - low) / span * (TREND_HEIGHT - 4):.1f}"
        for i, score in enumerate(scores)
    )


def score_panel(request: HttpRequest, lead: Lead) -> str:
    history = lead_score_history(lead)
    scores = [point["score"] for point in history]
    context = {
        "explanation": lead_explanation(lead),
        "trend_points": trend_polyline(history) if any(scores) else "",
        "trend_width": TREND_WIDTH,
        "trend_height": TREND_HEIGHT,
        "trend_first": history[0]["day"] if history else "",
        "trend_last": history[-1]["day"] if history else "",
        "trend_min": min(scores, default=0),
        "trend_max": max(scores, default=0),
    }
    return render_to_string("admin/scoring/lead_score_panel.html", context, request=request)


def register() -> None:
    register_lead_panel("scoring.score", score_panel)
