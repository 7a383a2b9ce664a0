"""aglidein.services.metrics: the metric families render, on a registry of their own, with bounded labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from aglidein.services.metrics import CONTENT_TYPE, UNKNOWN_GROUP, Metrics

# DESIGN §9: labels are bounded — never ids or free text
_BOUNDED = {"entry", "group", "schedd", "state", "reason", "credential", "result"}


def _families(metrics: Metrics) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(s.name, dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(metrics.render().decode())
    }


def test_every_family_is_aglidein_and_its_labels_are_bounded() -> None:
    metrics = Metrics()
    names = [m.name for m in metrics.registry.collect()]
    assert names
    assert all(n.startswith("aglidein_") for n in names)
    labelled = 0
    for collector in vars(metrics).values():
        labels = getattr(collector, "_labelnames", None)
        if labels:
            labelled += 1
            assert set(labels) <= _BOUNDED, collector
    assert labelled >= 20  # the check above looked at the labelled families


def test_updates_show_in_the_rendered_text() -> None:
    metrics = Metrics()
    metrics.submissions.labels(entry="CE_A", result="ok").inc(3)
    metrics.glidein_exits.labels(group=UNKNOWN_GROUP, entry="CE_A", reason="idle").inc()
    metrics.collector_up.set(1)
    metrics.cycle_duration.observe(0.3)
    metrics.build_info.info({"version": "1.2.3"})
    families = _families(metrics)
    assert ("aglidein_submissions_total", {"entry": "CE_A", "result": "ok"}, 3.0) in families[
        "aglidein_submissions"
    ]
    assert (
        "aglidein_glidein_exits_total",
        {"group": "unknown", "entry": "CE_A", "reason": "idle"},
        1.0,
    ) in families["aglidein_glidein_exits"]
    assert families["aglidein_collector_up"] == [("aglidein_collector_up", {}, 1.0)]
    cycle = {
        (name, labels.get("le")): value
        for name, labels, value in families["aglidein_cycle_duration_seconds"]
    }
    assert cycle[("aglidein_cycle_duration_seconds_count", None)] == 1.0
    assert cycle[("aglidein_cycle_duration_seconds_bucket", "0.25")] == 0.0
    assert cycle[("aglidein_cycle_duration_seconds_bucket", "0.5")] == 1.0
    assert ("aglidein_build_info", {"version": "1.2.3"}, 1.0) in families["aglidein_build_info"]


def test_each_metrics_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.log_records.inc(5)
    assert _families(one)["aglidein_log_records_accepted"][0][2] == 5.0
    assert _families(two)["aglidein_log_records_accepted"][0][2] == 0.0


def test_constants() -> None:
    assert UNKNOWN_GROUP == "unknown"
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")
