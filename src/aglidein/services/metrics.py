"""Every Prometheus metric aglidein exports (DESIGN §9), on a registry of its own.

One `Metrics` per daemon; services receive it and update their metrics. Labels are
bounded: entry, group, schedd, state, reason, credential, result — never ids or text.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import generate_latest

__all__ = ["CONTENT_TYPE", "UNKNOWN_GROUP", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# the `group` label of a glidein this daemon never saw on the queue (it cannot know it)
UNKNOWN_GROUP = "unknown"

_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
_QUERY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_INGEST_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Metrics:
    """The daemon's metrics; `render()` gives the Prometheus text."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.build_info = Info("aglidein_build", "aglidein version", registry=r)
        self._daemon(r)
        self._cycle(r)
        self._demand(r)
        self._glideins(r)
        self._credentials(r)
        self._logs(r)
        self._http(r)
        self._accounting(r)

    def _daemon(self, r: CollectorRegistry) -> None:
        """The daemon itself: loop lag, reloads, start time, readiness."""
        self.event_loop_lag = Histogram(
            "aglidein_event_loop_lag_seconds",
            "How late the event loop ran a timer that should have fired at once",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.config_reloads = Counter(
            "aglidein_config_reloads_total", "Config reloads by result", ["result"], registry=r
        )
        self.config_last_reload = Gauge(
            "aglidein_config_last_reload_timestamp_seconds",
            "When the config was last loaded successfully",
            registry=r,
        )
        self.up_since = Gauge(
            "aglidein_start_timestamp_seconds", "When the daemon started", registry=r
        )
        self.services_ready = Gauge(
            "aglidein_services_ready", "1 when every service has started", registry=r
        )

    def _cycle(self, r: CollectorRegistry) -> None:
        """The decision cycle and the pool polls."""
        self.cycles = Counter(
            "aglidein_cycles_total", "Decision cycles run", ["result"], registry=r
        )
        self.cycle_step_failures = Counter(
            "aglidein_cycle_step_failures_total",
            "Bookkeeping steps of a cycle that failed (logged; what was done is kept)",
            ["reason"],
            registry=r,
        )
        self.cycle_duration = Histogram(
            "aglidein_cycle_duration_seconds",
            "Wall time of one poll-decide-act cycle",
            buckets=_CYCLE_BUCKETS,
            registry=r,
        )
        self.schedd_query_duration = Histogram(
            "aglidein_schedd_query_duration_seconds",
            "Duration of a demand query to a schedd",
            ["schedd"],
            buckets=_QUERY_BUCKETS,
            registry=r,
        )
        self.schedd_query_failures = Counter(
            "aglidein_schedd_query_failures_total",
            "Failed demand queries",
            ["schedd", "reason"],
            registry=r,
        )
        self.schedd_stale_cycles = Gauge(
            "aglidein_schedd_stale_cycles",
            "Cycles a schedd's demand has been carried over from its last good query",
            ["schedd"],
            registry=r,
        )
        self.collector_up = Gauge(
            "aglidein_collector_up", "1 when the last collector query succeeded", registry=r
        )
        self.factory_schedd_up = Gauge(
            "aglidein_factory_schedd_up",
            "1 when the last query of this factory schedd succeeded",
            ["schedd"],
            registry=r,
        )
        self.factory_schedd_glideins = Gauge(
            "aglidein_factory_schedd_glideins",
            "Glideins of this factory on each factory schedd (last known when it fails)",
            ["schedd"],
            registry=r,
        )

    def _demand(self, r: CollectorRegistry) -> None:
        """Demand and the decisions taken on it, by (group, entry)."""
        self.idle_jobs = Gauge(
            "aglidein_idle_jobs", "Idle jobs matching an entry", ["group", "entry"], registry=r
        )
        self.running_jobs = Gauge(
            "aglidein_running_jobs",
            "Jobs running on an entry's glideins",
            ["group", "entry"],
            registry=r,
        )
        self.requested_idle = Gauge(
            "aglidein_requested_idle_glideins",
            "Target idle glideins decided for (group, entry)",
            ["group", "entry"],
            registry=r,
        )
        self.max_glideins = Gauge(
            "aglidein_max_glideins",
            "Maximum glideins decided for (group, entry)",
            ["group", "entry"],
            registry=r,
        )
        self.decisions_limited = Counter(
            "aglidein_decisions_limited_total",
            "Decisions cut by a limit, by reason (the DESIGN §5 strings)",
            ["group", "entry", "reason"],
            registry=r,
        )
        self.decision_limited_now = Gauge(
            "aglidein_decision_limited",
            "1 when the last decision for (group, entry) was cut by reason",
            ["group", "entry", "reason"],
            registry=r,
        )

    def _glideins(self, r: CollectorRegistry) -> None:
        """Glideins: states, submissions, removals, exits, entry health."""
        self.glideins = Gauge(
            "aglidein_glideins", "Glideins by entry and state", ["entry", "state"], registry=r
        )
        self.submissions = Counter(
            "aglidein_submissions_total", "Glideins submitted", ["entry", "result"], registry=r
        )
        self.removals = Counter(
            "aglidein_removals_total",
            "Glideins removed, by reason",
            ["entry", "reason", "result"],
            registry=r,
        )
        self.releases = Counter(
            "aglidein_releases_total", "Held glideins released", ["entry", "result"], registry=r
        )
        self.glidein_exits = Counter(
            "aglidein_glidein_exits_total",
            "Glideins that ended, by exit reason",
            ["group", "entry", "reason"],
            registry=r,
        )
        self.entry_health = Gauge(
            "aglidein_entry_health",
            "1 for an entry's current health state",
            ["entry", "state"],
            registry=r,
        )
        self.entry_backoff = Gauge(
            "aglidein_entry_backoff_seconds",
            "Seconds left in an entry's backoff (0 when not backed off)",
            ["entry"],
            registry=r,
        )

    def _credentials(self, r: CollectorRegistry) -> None:
        """Credential expiry and renewals."""
        self.credential_expiry = Gauge(
            "aglidein_credential_expiry_timestamp_seconds",
            "When a credential expires",
            ["credential"],
            registry=r,
        )
        self.credential_renewals = Counter(
            "aglidein_credential_renewals_total",
            "Credential renewals by result",
            ["credential", "result"],
            registry=r,
        )

    def _logs(self, r: CollectorRegistry) -> None:
        """The log service and its store."""
        self.log_records = Counter(
            "aglidein_log_records_accepted_total", "Log records stored", registry=r
        )
        self.log_duplicates = Counter(
            "aglidein_log_records_duplicate_total",
            "Log records acknowledged as already stored",
            registry=r,
        )
        self.log_rejected = Counter(
            "aglidein_log_records_rejected_total",
            "Log records or requests rejected, by reason",
            ["reason"],
            registry=r,
        )
        self.log_bytes = Counter(
            "aglidein_log_received_bytes_total", "Bytes of log records received", registry=r
        )
        self.log_store_bytes = Gauge(
            "aglidein_log_store_size_bytes", "Size of the log store on disk", registry=r
        )
        self.log_index_lag = Gauge(
            "aglidein_log_index_lag_seconds",
            "How far the full-text index trails ingest",
            registry=r,
        )
        self.ingest_duration = Histogram(
            "aglidein_log_ingest_duration_seconds",
            "Time from request received to records durable",
            buckets=_INGEST_BUCKETS,
            registry=r,
        )

    def _http(self, r: CollectorRegistry) -> None:
        """HTTP requests."""
        self.http_requests = Counter(
            "aglidein_http_requests_total",
            "HTTP requests by route class and status class",
            ["state", "result"],
            registry=r,
        )

    def _accounting(self, r: CollectorRegistry) -> None:
        """Per-group accounting (issue #18): where glidein time went, by (group, entry)."""
        self.glidein_seconds = Counter(
            "aglidein_glidein_seconds_total",
            "Wall time of glideins that ended (their glidein.end record)",
            ["group", "entry"],
            registry=r,
        )
        self.user_job_seconds = Counter(
            "aglidein_user_job_seconds_total",
            "Run time of user jobs that ended on glideins (their job.end records)",
            ["group", "entry"],
            registry=r,
        )
        self.glidein_badput_seconds = Counter(
            "aglidein_glidein_badput_seconds_total",
            "Glidein wall time with no user job running (ended glideins)",
            ["group", "entry"],
            registry=r,
        )
        self.glidein_validation_failures = Counter(
            "aglidein_glidein_validation_failures_total",
            "Glideins that ended because the node failed validation",
            ["group", "entry"],
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
