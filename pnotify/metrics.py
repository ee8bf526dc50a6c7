"""Prometheus text exposition, written by hand: counters, gauges and histograms in memory."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pnotify.changes import CHANGE_KINDS, Change

if TYPE_CHECKING:
    from pnotify.services import Services

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    text = ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)
    return "{" + text + "}" if text else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Histogram:
    __slots__ = ("buckets", "counts", "sum", "total")

    def __init__(self, buckets: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.total = 0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.sum += value
        self.total += 1

    def lines(self, name: str, labels: tuple[tuple[str, str], ...] = ()) -> list[str]:
        out = []
        cumulative = 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            cumulative += count
            out.append(f"{name}_bucket{_labels((*labels, ('le', _number(bound))))} {cumulative}")
        out.append(f"{name}_bucket{_labels((*labels, ('le', '+Inf')))} {self.total}")
        out.append(f"{name}_sum{_labels(labels)} {_number(self.sum)}")
        out.append(f"{name}_count{_labels(labels)} {self.total}")
        return out


class Metrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.durations: dict[str, Histogram] = {}
        self.commit_seconds = Histogram()
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self.counters: dict[str, tuple[str, Callable[[], float]]] = {}
        self.changes: Counter[str] = Counter()

    def watch(self, services: Services) -> None:
        """Gauges and counters read from the running server's parts at each scrape."""
        broker, writer, tokens = services.broker, services.writer, services.tokens
        self.gauge("pnotify_sse_streams", "Open SSE streams.", lambda: broker.subscriber_count)
        self.gauge(
            "pnotify_write_queue_depth", "Writes waiting for the writer.", lambda: writer.pending
        )
        search, reader = services.search, services.reader
        self.gauge(
            "pnotify_search_index_behind",
            "Changes to notifications the search index has still to take in.",
            lambda: search.behind(reader),
        )
        self.counter(
            "pnotify_token_auth_failures_total",
            "Refused API-token authentications.",
            lambda: tokens.failures_total,
        )

    def count_changes(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self.changes[change.kind] += 1

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[(route, method, status)] += 1
        histogram = self.durations.get(route)
        if histogram is None:
            histogram = self.durations[route] = Histogram()
        histogram.observe(seconds)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def counter(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.counters[name] = (help_text, read)

    def render(self) -> str:
        lines = [
            "# HELP pnotify_http_requests_total HTTP requests by route, method and status.",
            "# TYPE pnotify_http_requests_total counter",
        ]
        for (route, method, status), count in sorted(self.requests.items()):
            labels = _labels((("route", route), ("method", method), ("status", str(status))))
            lines.append(f"pnotify_http_requests_total{labels} {count}")
        lines += [
            "# HELP pnotify_http_request_duration_seconds Time to answer, by route template.",
            "# TYPE pnotify_http_request_duration_seconds histogram",
        ]
        for route, histogram in sorted(self.durations.items()):
            lines += histogram.lines("pnotify_http_request_duration_seconds", (("route", route),))
        lines += [
            "# HELP pnotify_db_commit_seconds Time from BEGIN to COMMIT of one write batch.",
            "# TYPE pnotify_db_commit_seconds histogram",
            *self.commit_seconds.lines("pnotify_db_commit_seconds"),
        ]
        lines += [
            "# HELP pnotify_notification_changes_total Committed changes by kind.",
            "# TYPE pnotify_notification_changes_total counter",
        ]
        for change_kind in CHANGE_KINDS:
            count = self.changes[change_kind]
            lines.append(
                f"pnotify_notification_changes_total{_labels((('kind', change_kind),))} {count}"
            )
        for kind, table in (("counter", self.counters), ("gauge", self.gauges)):
            for name, (help_text, read) in sorted(table.items()):
                lines += [
                    f"# HELP {name} {help_text}",
                    f"# TYPE {name} {kind}",
                    f"{name} {_number(read())}",
                ]
        return "\n".join(lines) + "\n"
