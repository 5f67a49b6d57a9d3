"""The demo's live view: what the worker's /metrics say, redrawn on the terminal (rich).

It reads only /metrics, as an operator's dashboard would, so what it shows is what the pipeline
exported, not what the simulator believes it sent.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..exposition import Metrics, series, total

if TYPE_CHECKING:
    from .run import Sent


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return f"{n:.1f} PiB"


def render(metrics: Metrics, sent: Sent, elapsed: float, rate: float, phase: str,
           names: dict[str, str]) -> Group:
    header = Text.assemble(
        ("glance-kafka demo ", "bold"), (f"{phase}  ", "cyan"),
        f"{elapsed:5.0f}s  sent {sent.notifications}  processed "
        f"{total(metrics, 'glance_notifications_total'):.0f}  ({rate:,.0f} events/s)  "
        f"lag {total(metrics, 'glance_consumer_lag'):.0f}")

    def top(name: str, title: str) -> Table:
        table = Table(title=title, title_justify="left", expand=True)
        table.add_column("project")
        table.add_column("complete", justify="right")
        table.add_column("partial", justify="right")
        by_project = series(metrics, name, "project", "outcome")
        projects = Counter()
        for (project, _), value in by_project.items():
            projects[project] += value
        for project, _ in projects.most_common(5):
            table.add_row(names.get(project, project[:12]),
                          human_bytes(by_project[(project, "complete")]),
                          human_bytes(by_project[(project, "partial")]))
        return table

    downloads = series(metrics, "glance_image_downloads_total", "outcome")
    tasks = Table(title="task failures by type", title_justify="left", expand=True)
    tasks.add_column("task type")
    tasks.add_column("failures", justify="right")
    tasks.add_column("of events", justify="right")
    events = series(metrics, "glance_task_events_total", "task_type", "status")
    failures = series(metrics, "glance_task_failures_total", "task_type", "project")
    by_type = Counter()
    for (task_type, _), value in failures.items():
        by_type[task_type] += value
    for task_type in sorted({t for t, _ in events}):
        tasks.add_row(task_type, f"{by_type[task_type]:.0f}",
                      f"{sum(v for (t, _), v in events.items() if t == task_type):.0f}")
    dead = series(metrics, "glance_dead_letters_total", "reason")
    footer = Text(
        f"downloads: {downloads['complete']:.0f} complete, {downloads['partial']:.0f} partial   "
        f"duplicates skipped: {total(metrics, 'glance_duplicates_skipped_total'):.0f}   "
        f"dead letters: {sum(dead.values()):.0f} "
        f"({', '.join(f'{r} {v:.0f}' for r, v in sorted(dead.items())) or 'none'})")
    grid = Table.grid(expand=True)
    grid.add_column()
    grid.add_column()
    grid.add_row(top("glance_image_served_bytes_total", "top projects by bytes served"),
                 top("glance_image_downloaded_bytes_total", "top projects by bytes downloaded"))
    return Group(Panel(header), grid, tasks, footer)
