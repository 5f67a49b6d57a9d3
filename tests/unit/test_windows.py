"""The last-hour view of /projects/<project>/ (5-minute buckets) and the expiry of old buckets,
against plain sums over the downloads sent (no Kafka)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from producers.serde import AvroCodec
from streams.aggregates import Aggregator
from streams.app import project_summary
from tests.source_log import SETTINGS, source_log

OWNER, RECEIVER, OTHER = "owner-project", "receiver-project", "someone-else"
BUCKET = 300
#: "now": 150 s into a 5-minute bucket.
NOW = 1_764_000_000 // BUCKET * BUCKET + 150
#: Ages (minutes) of the downloads: inside the last hour, outside it, and past the 24 h retention.
#: None sits in the bucket the hour's start cuts through (NOW - 3600 falls mid-bucket), so
#: which buckets count is not a matter of rounding.
RECENT = [0, 1, 4, 14, 31, 31, 54]
OLDER = [66, 90, 180, 23 * 60]
EXPIRED = [25 * 60, 30 * 60]


def _send(age_minutes: float, sent: int, i: int, owner: str = OWNER, receiver: str = RECEIVER
          ) -> dict:
    at = datetime.fromtimestamp(NOW - age_minutes * 60, UTC).replace(tzinfo=None)
    return {"message_id": f"m-{i}", "publisher_id": "image.host1", "event_type": "image.send",
            "priority": "INFO" if i % 3 else "ERROR", "timestamp": str(at),
            "payload": {"bytes_sent": sent, "image_id": f"img-{i % 4}", "owner_id": owner,
                        "receiver_tenant_id": receiver, "receiver_user_id": "u"}}


def _world() -> tuple[dict, list[tuple[float, int]]]:
    ages = RECENT + OLDER + EXPIRED
    sends = [(age, 1000 + 7 * i) for i, age in enumerate(ages)]
    notifications = [_send(age, sent, i) for i, (age, sent) in enumerate(sends)]
    notifications.append(_send(2, 999_999, 99, OTHER, OTHER))  # another project's, in the hour
    table: dict = {}
    Aggregator(table, AvroCodec(SETTINGS)).apply(source_log(notifications))
    return table, sends


def _pipeline(table: dict, owned: set[int] | None = None) -> SimpleNamespace:
    return SimpleNamespace(owned_partitions=lambda: owned if owned is not None else {0, 1, 2, 3},
                           table=SimpleNamespace(rows=lambda: list(table.items())))


def _expected_buckets(sends: list[tuple[float, int]], ages: list[float]) -> dict[str, int]:
    out: dict[str, int] = {}
    for age, sent in sends:
        if age in ages:
            start = str(int((NOW - age * 60) // BUCKET * BUCKET))
            out[start] = out.get(start, 0) + sent
    return out


def test_last_hour_sums_the_buckets_of_the_last_hour_only() -> None:
    table, sends = _world()
    for project, kind in ((OWNER, "served_bytes"), (RECEIVER, "downloaded_bytes")):
        view = project_summary(_pipeline(table), project, now=NOW)
        recent = sum(sent for age, sent in sends if age in RECENT)
        assert view["bucket_seconds"] == BUCKET
        assert view["last_hour"][kind] == recent
        buckets = {start: b[kind] for start, b in view["last_hour"]["buckets"].items()}
        assert buckets == _expected_buckets(sends, RECENT)
        assert len(buckets) == len(set(RECENT)) - 1  # two downloads 31 min ago share a bucket
        # the totals keep everything, whatever its age
        assert sum(view[kind].values()) == sum(sent for _, sent in sends)
    # an hour later, none of them is in the last hour any more
    later = project_summary(_pipeline(table), OWNER, now=NOW + 2 * 3600)
    assert later["last_hour"] == {"served_bytes": 0, "downloaded_bytes": 0, "buckets": {}}


def test_buckets_older_than_the_retention_expire_and_totals_stay() -> None:
    table, sends = _world()
    aggregator = Aggregator(table, AvroCodec(SETTINGS))
    windows = {k for k in table if "|win_" in k}
    # two rows (served, downloaded) per expired download, none of the other project's
    assert aggregator.expire_windows(now=NOW, owned_partitions=set()) == 0
    assert aggregator.expire_windows(now=NOW) == 2 * len(EXPIRED)
    assert {k for k in table if "|win_" in k} == {
        k for k in windows if int(k.rsplit("|", 1)[1]) >= NOW - 24 * 3600}
    assert aggregator.expire_windows(now=NOW) == 0
    view = project_summary(_pipeline(table), OWNER, now=NOW)
    assert view["last_hour"]["served_bytes"] == sum(sent for age, sent in sends if age in RECENT)
    assert sum(view["served_bytes"].values()) == sum(sent for _, sent in sends)


def test_the_view_reads_only_the_partitions_this_worker_owns() -> None:
    table, sends = _world()
    views = [project_summary(_pipeline(table, {p}), OWNER, now=NOW) for p in range(4)]
    assert sum(v["last_hour"]["served_bytes"] for v in views) == sum(
        sent for age, sent in sends if age in RECENT)
    assert all(v["partitions"] == [p] for p, v in enumerate(views))
