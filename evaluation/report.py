"""The evaluation as one self-contained HTML file: inline CSS, plots as base64 PNG, all user text escaped."""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

from voiced.evaluation.passage_metrics import METRICS
from voiced.evaluation.run import CEILING, FLOOR, EvalResult

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.samples td{width:25%;white-space:pre-wrap;font-size:13px}img{max-width:100%}
"""


def _number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else escape(str(value))


def loss_plot(losses: dict[str, dict[str, list]]) -> str | None:
    """Training and validation loss per version as a base64 PNG (None when no version recorded losses)."""
    if not losses:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.5), dpi=100)
    for version, curves in losses.items():
        for split, style in (("train", "-"), ("valid", "--")):
            points = curves.get(split) or []
            if points:
                axis.plot([p[0] for p in points], [p[1] for p in points], style, label=f"{version} {split}")
    axis.set_xlabel("step")
    axis.set_ylabel("loss (nats/token)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _metrics_table(result: EvalResult, metrics: dict | None = None, nll: dict | None = None) -> str:
    metrics = result.metrics if metrics is None else metrics
    nll = result.nll if nll is None else nll
    labels = list(metrics)
    head = "".join(f"<th>{escape(label)}</th>" for label in labels)
    rows = []
    if nll:
        for key, title in (("nll", "test NLL (nats/token)"), ("perplexity", "perplexity")):
            cells = "".join(f'<td class="num">{_number(nll.get(label, {}).get(key))}</td>' for label in labels)
            rows.append(f"<tr><th>{title}</th>{cells}</tr>")
    for name, (title, _better) in METRICS.items():
        cells = "".join(f'<td class="num">{_number(metrics[label].get(name))}</td>' for label in labels)
        rows.append(f"<tr><th>{escape(title)}</th>{cells}</tr>")
    return f'<table class="metrics"><tr><th>metric</th>{head}</tr>{"".join(rows)}</table>'


def _samples_table(result: EvalResult, count: int) -> str:
    labels = list(result.outputs)
    head = "".join(f"<th>{escape(label)}</th>" for label in ["draft", *labels, "original"])
    rows = []
    for i, passage in enumerate(result.passages[:count]):
        cells = [passage.rough, *(result.outputs[label][i] for label in labels), passage.original]
        rows.append("<tr>" + "".join(f"<td>{escape(text)}</td>" for text in cells) + "</tr>")
    return f'<table class="samples"><tr>{head}</tr>{"".join(rows)}</table>'


def render_html(result: EvalResult, samples: int = 5) -> str:
    plot = loss_plot(result.losses)
    figure = (
        f'<img alt="training and validation loss per version" src="data:image/png;base64,{plot}">'
        if plot
        else "<p>No version has recorded training losses yet.</p>"
    )
    drafts = ", ".join(f"{count} {source}" for source, count in result.sources().items())
    notes = "".join(f"<p>Note: {escape(note)}</p>" for note in result.notes)
    by_source = "".join(
        f"<h3>{escape(source)} drafts only</h3>{_metrics_table(result, metrics, {})}"
        for source, metrics in result.by_source.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>voiced eval: {escape(result.voice)}</title>
<style>{STYLE}</style></head><body>
<h1>Evaluation of voice “{escape(result.voice)}”</h1>
<p>{len(result.passages)} drafts of passages of the fixed test split ({escape(drafts)}), made by processes
training never uses, rewritten at temperature 0. Anchors: “{escape(FLOOR)}” is the draft returned unchanged;
“{escape(CEILING)}” is the writer's own text. Attribution compares the writer's profile (train split) with
{escape(", ".join(result.references))} (see docs/evaluation.md).</p>{notes}
<h2>Loss per version</h2>{figure}
<h2>Metrics</h2>{_metrics_table(result)}{by_source}
<h2>Samples</h2>{_samples_table(result, samples)}
</body></html>
"""
