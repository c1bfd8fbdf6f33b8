# SPDX-License-Identifier: Apache-2.0
"""The report of a run: one self-contained HTML page (inline CSS and SVG, no external assets)
from the run summary that `half run` also writes as run.json.

    from half.report import render_report
    html = render_report(json.load(open("RUN_DIR/run.json")))

Modules: `svg` (the Pareto front plot), `html` (the page and its sections).
"""

from half.report.html import render_report
from half.report.svg import pareto_svg

__all__ = ["pareto_svg", "render_report"]
