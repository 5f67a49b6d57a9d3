"""A deterministic, realistic Glance notification traffic simulator, with its own ground truth.

The demo (`glance-kafka demo`), the tests and the benchmarks need Glance traffic without a Glance:
this module makes notification dicts shaped exactly as oslo.messaging builds them from Glance 33's
notifier (see tests/glance_events.py for the captured originals), and keeps, as it goes, the exact
totals the stream workers should export for them (streams/metric_names.py). A run is a pure
function of its seed, so a test can replay it and compare the pipeline's metrics to the truth.

* :class:`CloudModel` -- projects, users and an image catalogue: a few public base images that
  take most downloads (Zipf-like popularity) plus private images per project.
* :class:`TrafficGenerator` -- downloads (image.send), uploads and imports (with their tasks),
  updates, deletes and a few image.member.* events, on a simulated clock.
* :class:`GroundTruth` -- what the metrics must say about the notifications emitted so far.
* :func:`inject_duplicates` / :func:`inject_malformed` -- at-least-once redelivery and garbage,
  for dedupe and dead-letter scenarios.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from bisect import bisect
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from heapq import heappop, heappush
from itertools import accumulate
from typing import Any, Generic, TypeVar

from producers.exceptions import ConfigurationError

__all__ = [
    "BASE_IMAGES",
    "CloudModel",
    "GroundTruth",
    "Image",
    "MALFORMED_KINDS",
    "Project",
    "TrafficGenerator",
    "TrafficMix",
    "inject_duplicates",
    "inject_malformed",
    "malformed_samples",
]

Notification = dict[str, Any]

MiB = 1024**2
GiB = 1024**3
#: Where simulated time starts unless told otherwise: fixed, so a seed fully determines a run.
DEFAULT_START = datetime(2025, 3, 3, 8, 0, 0)
TASK_TYPE = "api_image_import"
#: Glance keeps finished tasks visible for 48 h (task_time_to_live).
TASK_TTL = timedelta(hours=48)
OUTCOMES = ("complete", "partial")


# --------------------------------------------------------------------------- ids and times


def _hex32(rng: random.Random) -> str:
    """A Keystone-style id (32 lowercase hex digits)."""
    return f"{rng.getrandbits(128):032x}"


def _uuid4(rng: random.Random) -> str:
    """str(uuid.uuid4()) drawn from `rng` (version 4, RFC 4122 variant), built from the bits directly:
    uuid.UUID per notification was a visible share of the generator's time."""
    bits = (rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _iso(value: datetime) -> str:
    """Glance payload datetimes: oslo's isotime, second precision with a literal Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _log_uniform(rng: random.Random, low: float, high: float) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


T = TypeVar("T")


class _Bag(Generic[T]):
    """A set with O(1) add, remove and uniform random pick, in a deterministic order."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._index: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: T) -> bool:
        return id(item) in self._index

    def add(self, item: T) -> None:
        if id(item) not in self._index:
            self._index[id(item)] = len(self._items)
            self._items.append(item)

    def discard(self, item: T) -> None:
        pos = self._index.pop(id(item), None)
        if pos is None:
            return
        last = self._items.pop()
        if pos < len(self._items):
            self._items[pos] = last
            self._index[id(last)] = pos

    def pick(self, rng: random.Random) -> T:
        return self._items[int(rng.random() * len(self._items))]


# --------------------------------------------------------------------------- the cloud


@dataclass(slots=True)
class Project:
    id: str
    name: str
    users: tuple[str, ...]


@dataclass(slots=True)
class Image:
    """One Glance image: the fields ``glance.notifier.format_image_notification`` reports."""

    id: str
    name: str
    owner: str
    visibility: str
    disk_format: str
    container_format: str
    size: int | None
    virtual_size: int | None
    checksum: str | None
    min_disk: int
    min_ram: int
    properties: dict[str, Any]
    tags: list[str]
    status: str
    created_at: str
    updated_at: str
    protected: bool = False
    deleted_at: str | None = None

    def payload(self, **extra: Any) -> dict[str, Any]:
        """The INFO payload Glance sends for this image (fresh copies of the mutable parts)."""
        body = {
            "id": self.id, "name": self.name, "status": self.status,
            "created_at": self.created_at, "updated_at": self.updated_at,
            "min_disk": self.min_disk, "min_ram": self.min_ram, "protected": self.protected,
            "checksum": self.checksum, "owner": self.owner, "disk_format": self.disk_format,
            "container_format": self.container_format, "size": self.size,
            "virtual_size": self.virtual_size, "is_public": self.visibility == "public",
            "visibility": self.visibility, "properties": dict(self.properties),
            "tags": list(self.tags), "deleted": self.status == "deleted",
            "deleted_at": self.deleted_at,
        }
        if extra:
            body.update(extra)
        return body


#: Public base images, most popular first: (name, size, virtual_size, disk_format, min_disk,
#: min_ram, properties, tags). Sizes are those of the real cloud images, ~16 MB to 20 GiB; two are
#: over 2**31 so int32 mistakes show up.
BASE_IMAGES: tuple[tuple[str, int, int, str, int, int, dict[str, str], tuple[str, ...]], ...] = (
    ("ubuntu-24.04-server-cloudimg-amd64", 602_931_200, 3_758_096_384, "qcow2", 10, 1024,
     {"os_distro": "ubuntu", "os_version": "24.04", "os_admin_user": "ubuntu",
      "hw_disk_bus": "scsi", "hw_scsi_model": "virtio-scsi", "hw_qemu_guest_agent": "yes"},
     ("ubuntu", "lts", "cloud-image")),
    ("cirros-0.6.2-x86_64-disk", 21_430_272, 117_440_512, "qcow2", 1, 64,
     {"os_distro": "cirros", "os_version": "0.6.2"}, ("cirros", "test")),
    ("centos-stream-9-genericcloud-x86_64", 1_254_031_360, 10 * GiB, "qcow2", 10, 1024,
     {"os_distro": "centos", "os_version": "9", "os_admin_user": "cloud-user",
      "hw_disk_bus": "virtio"}, ("centos", "cloud-image")),
    ("windows-server-2022-standard", 10_200_547_328, 40 * GiB, "qcow2", 40, 4096,
     {"os_type": "windows", "os_distro": "windows", "os_version": "2022",
      "hw_firmware_type": "uefi", "hw_machine_type": "q35", "hw_disk_bus": "sata"},
     ("windows", "licensed")),
    ("debian-12-genericcloud-amd64", 344_981_504, 2 * GiB, "qcow2", 2, 512,
     {"os_distro": "debian", "os_version": "12", "os_admin_user": "debian"}, ("debian",)),
    ("rocky-9.4-genericcloud-base", 609_812_480, 10 * GiB, "qcow2", 10, 1024,
     {"os_distro": "rocky", "os_version": "9.4", "os_admin_user": "rocky"}, ("rocky",)),
    ("cirros-0.5.2-x86_64-disk", 16_300_544, 117_440_512, "qcow2", 1, 64,
     {"os_distro": "cirros", "os_version": "0.5.2"}, ("cirros", "test", "legacy")),
    ("windows-server-2019-datacenter", 20 * GiB, 20 * GiB, "raw", 20, 4096,
     {"os_type": "windows", "os_distro": "windows", "os_version": "2019",
      "hw_disk_bus": "sata"}, ("windows", "licensed")),
)

_SERVER_ROLES = ("web", "db", "ci-runner", "k8s-node", "build", "gitlab", "etl", "vpn", "cache")
_GOLDEN = (("ubuntu", "22.04"), ("ubuntu", "24.04"), ("rhel", "9.4"), ("debian", "12"),
           ("rocky", "9.4"), ("windows", "2022"))
_APPLIANCES = ("fortigate-vm64", "f5-bigip-ve", "paloalto-vm-series", "vyos-rolling")


def _private_image(rng: random.Random, owner: str, base_ids: Sequence[str], when: datetime) -> Image:
    """A project's own active image: a Nova snapshot, a golden build, an appliance or an ISO."""
    kind = rng.random()
    stamp = _iso(when)
    props: dict[str, Any]
    tags: list[str] = []
    if kind < 0.45:  # what `openstack server image create` leaves behind
        role = rng.choice(_SERVER_ROLES)
        name = f"{role}-{rng.randint(1, 40):02d}-snapshot-{when:%Y%m%d}"
        disk_format, container_format = rng.choice(("qcow2", "raw")), "bare"
        size = _log_uniform(rng, 800 * MiB, 40 * GiB)
        props = {"image_type": "snapshot", "instance_uuid": _uuid4(rng),
                 "base_image_ref": rng.choice(base_ids) if base_ids else _uuid4(rng),
                 "user_id": _hex32(rng), "hw_disk_bus": "virtio"}
    elif kind < 0.80:
        distro, version = rng.choice(_GOLDEN)
        name = f"{distro}-{version}-golden-{rng.choice(('v1', 'v2', 'v3', 'hardened', 'cis'))}"
        disk_format, container_format = rng.choice(("qcow2", "qcow2", "raw")), "bare"
        size = _log_uniform(rng, 400 * MiB, 12 * GiB)
        props = {"os_distro": distro, "os_version": version, "hw_qemu_guest_agent": "yes",
                 "description": f"{distro} {version} built by the platform pipeline"}
        tags = ["golden", distro]
    elif kind < 0.92:
        name = f"{rng.choice(_APPLIANCES)}-{rng.randint(6, 11)}.{rng.randint(0, 4)}"
        disk_format, container_format = "vmdk", rng.choice(("bare", "ova"))
        size = _log_uniform(rng, 300 * MiB, 6 * GiB)
        props = {"hw_vif_model": "vmxnet3", "vmware_adaptertype": "lsiLogic"}
        tags = ["appliance"]
    else:
        distro, version = rng.choice(_GOLDEN)
        name = f"{distro}-{version}-install.iso"
        disk_format, container_format = "iso", "bare"
        size = _log_uniform(rng, 50 * MiB, 6 * GiB)
        props = {"os_distro": distro, "os_version": version}
        tags = ["install-media"]
    if disk_format == "raw" or disk_format == "iso":
        virtual = size
    else:
        virtual = max(size, rng.choice((10, 20, 40, 80)) * GiB)
    return Image(
        id=_uuid4(rng), name=name, owner=owner,
        visibility="shared" if rng.random() < 0.15 else "private",
        disk_format=disk_format, container_format=container_format,
        size=size, virtual_size=virtual, checksum=_hex32(rng),
        min_disk=0 if rng.random() < 0.6 else rng.choice((10, 20, 40)),
        min_ram=0 if rng.random() < 0.7 else rng.choice((512, 1024, 2048, 4096)),
        properties=props, tags=tags, status="active", created_at=stamp, updated_at=stamp,
        protected=rng.random() < 0.03)


@dataclass
class CloudModel:
    """The cloud the traffic happens in: projects with users, and the images they start with.

    ``images`` lists the public base images first, in popularity order (rank 1 first), then the
    projects' private images. Everything derives from the seed, ids included, so two runs with
    one seed describe the same cloud.
    """

    projects: list[Project]
    images: list[Image]

    @classmethod
    def generate(cls, seed: int = 0, projects: int = 20, users_per_project: int = 4,
                 private_images_per_project: int = 3, start: datetime = DEFAULT_START) -> CloudModel:
        if projects < 1 or users_per_project < 1:
            raise ConfigurationError("need at least one project with at least one user")
        rng = random.Random(f"glance-sim/model/{seed}")
        plist = [Project(id=_hex32(rng), name="admin" if i == 0 else f"tenant-{i:03d}",
                         users=tuple(_hex32(rng) for _ in range(users_per_project)))
                 for i in range(projects)]
        admin = plist[0].id
        images: list[Image] = []
        for rank, (name, size, virtual, fmt, min_disk, min_ram, props, tags) in enumerate(BASE_IMAGES):
            created = _iso(start - timedelta(days=200 - 20 * rank, seconds=rng.randrange(86_400)))
            images.append(Image(
                id=_uuid4(rng), name=name, owner=admin, visibility="public", disk_format=fmt,
                container_format="bare", size=size, virtual_size=virtual, checksum=_hex32(rng),
                min_disk=min_disk, min_ram=min_ram, properties=dict(props), tags=list(tags),
                status="active", created_at=created, updated_at=created, protected=True))
        base_ids = [image.id for image in images]
        for project in plist[1:] if projects > 1 else plist:
            for _ in range(private_images_per_project):
                when = start - timedelta(seconds=rng.randrange(1, 90 * 86_400))
                images.append(_private_image(rng, project.id, base_ids, when))
        return cls(projects=plist, images=images)

    @property
    def public_images(self) -> list[Image]:
        return [image for image in self.images if image.visibility == "public"]

    @property
    def project_ids(self) -> list[str]:
        return [project.id for project in self.projects]


# --------------------------------------------------------------------------- ground truth


@dataclass(slots=True)
class ImageState:
    """What the image events emitted so far say about one image."""

    owner: str
    status: str
    size: int | None
    disk_format: str | None


@dataclass
class GroundTruth:
    """Exact totals for the notifications emitted so far (each message_id counted once).

    Each counter follows its metric's definition in streams/metric_names.py: served bytes go to
    the payload's owner_id, downloaded bytes to its receiver_tenant_id, outcome is "partial" for
    an ERROR image.send; task events are keyed by the payload's type and status; task failures
    are task.failure events by type and payload owner. Per-project images and stored bytes are
    the catalogue state the image events imply (the last status seen per image; stored bytes sum
    the sizes of images not deleted).
    """

    served_bytes: Counter[tuple[str, str]] = field(default_factory=Counter)
    downloaded_bytes: Counter[tuple[str, str]] = field(default_factory=Counter)
    downloads: Counter[str] = field(default_factory=Counter)
    task_events: Counter[tuple[str, str]] = field(default_factory=Counter)
    task_failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    notifications: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: ERROR image.upload notifications by reason class: the glance_store error Glance caught
    #: (storage_full, storage_write_denied, timeout, internal_error). The pipeline only sees the
    #: message text and classifies it back.
    upload_failures: Counter[str] = field(default_factory=Counter)
    images: dict[str, ImageState] = field(default_factory=dict)

    @property
    def upload_failures_total(self) -> int:
        return sum(self.upload_failures.values())

    def images_by_status(self) -> Counter[tuple[str, str]]:
        """(owner project, status) -> number of images; deleted images count as "deleted"."""
        return Counter((state.owner, state.status) for state in self.images.values())

    def stored_bytes(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for state in self.images.values():
            if state.status != "deleted" and state.size is not None:
                out[state.owner] += state.size
        return out

    def stored_bytes_by_disk_format(self) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for state in self.images.values():
            if state.status != "deleted" and state.size is not None:
                out[(state.owner, state.disk_format or "")] += state.size
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: metric name -> values nested in the metric's label order."""

        def nest(counter: Counter[Any]) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key, value in sorted(counter.items()):
                if isinstance(key, tuple):
                    out.setdefault(key[0], {})[key[1]] = value
                else:
                    out[key] = value
            return out

        return {
            "glance_image_served_bytes_total": nest(self.served_bytes),
            "glance_image_downloaded_bytes_total": nest(self.downloaded_bytes),
            "glance_image_downloads_total": nest(self.downloads),
            "glance_task_events_total": nest(self.task_events),
            "glance_task_failures_total": nest(self.task_failures),
            "glance_notifications_total": nest(self.notifications),
            "glance_project_images": nest(self.images_by_status()),
            "glance_project_stored_bytes": nest(self.stored_bytes()),
            "glance_project_stored_bytes_by_disk_format": nest(self.stored_bytes_by_disk_format()),
            "glance_image_upload_failures_total": nest(self.upload_failures),
        }

    def _image(self, image: Image) -> None:
        self.images[image.id] = ImageState(image.owner, image.status, image.size, image.disk_format)


# --------------------------------------------------------------------------- traffic


@dataclass(frozen=True)
class TrafficMix:
    """How often each kind of activity starts, and how often things go wrong.

    The first six are relative weights of activities; an upload or import then emits several
    notifications over simulated minutes, so the share of image.send among *notifications* is a
    little lower than its weight (about 85 % with the defaults).
    """

    download: float = 0.93
    upload: float = 0.02
    image_import: float = 0.01
    update: float = 0.015
    delete: float = 0.02
    member: float = 0.005
    #: image.send at ERROR with bytes_sent < size (the store returned fewer bytes than expected).
    partial_rate: float = 0.03
    #: Downloads served by the cache middleware, whose payload carries destination_ip.
    cache_path_rate: float = 0.10
    upload_failure_rate: float = 0.02
    task_failure_rate: float = 0.10
    #: Share of downloads that fetch a public base image (Zipf-ranked); the rest fetch private ones.
    public_download_share: float = 0.80
    zipf_exponent: float = 1.1

    def weights(self) -> list[float]:
        return [self.download, self.upload, self.image_import, self.update, self.delete, self.member]


# (cause, message template): the texts glance.notifier.ImageProxy.set_data sends on store errors.
_UPLOAD_ERRORS = (
    ("storage_full", 0.40,
     "Image storage media is full: There is not enough disk space on the image storage media."),
    ("storage_write_denied", 0.15,
     "Insufficient permissions on image storage media: Permission to write image storage media "
     "denied."),
    ("timeout", 0.20,
     "Filesystem store operation timed out: Operation timed out after {timeout}s. Check storage "
     "health and connectivity."),
    ("internal_error", 0.25,
     "Failed to upload image data for image {image_id} due to internal error: "
     "[Errno 104] Connection reset by peer"),
)
_UPLOAD_ERROR_CUM = list(accumulate(w for _, w, _ in _UPLOAD_ERRORS))
_STORES = ("ceph-az1", "ceph-az2", "swift")
_UPDATES = (("hw_qemu_guest_agent", "yes"), ("hw_rng_model", "virtio"), ("os_require_quiesce", "yes"),
            ("hw_vif_multiqueue_enabled", "true"), ("description", "refreshed by image-builder"))


class TrafficGenerator:
    """Generates Glance notifications for a :class:`CloudModel`, keeping the :class:`GroundTruth`.

    Activities start at random (Poisson, ``rate`` per simulated second) and multi-step ones
    (uploads, imports) finish later, so their events interleave with downloads as on a real
    cloud. With ``bootstrap`` the catalogue's images are first announced with their own
    create/prepare/upload/activate, so per-project gauges built from events match the model.
    ``projects``/``images`` size a fresh model (images = private images per project) unless
    ``model`` is given. Same arguments, same notifications, byte for byte.
    """

    def __init__(self, seed: int = 0, projects: int = 20, images: int = 3, *,
                 model: CloudModel | None = None, mix: TrafficMix | None = None,
                 rate: float = 50.0, start: datetime = DEFAULT_START, hosts: int = 3,
                 bootstrap: bool = True) -> None:
        self.model = model or CloudModel.generate(seed, projects, private_images_per_project=images,
                                                  start=start)
        self.mix = mix or TrafficMix()
        self.truth = GroundTruth()
        self._rng = random.Random(f"glance-sim/traffic/{seed}")
        self._start = start
        self._rate = rate
        self._hosts = [f"image.glance-api-{i}" for i in range(max(hosts, 1))]
        self._project_ids = [p.id for p in self.model.projects]
        self._users = {p.id: p.users for p in self.model.projects}
        catalogue = [dataclasses.replace(image, properties=dict(image.properties), tags=list(image.tags))
                     for image in self.model.images]
        self._public = [image for image in catalogue if image.visibility == "public"]
        self._public_ids = [image.id for image in self._public]
        self._public_cum = list(accumulate(1.0 / rank ** self.mix.zipf_exponent
                                           for rank in range(1, len(self._public) + 1)))
        self._private_active: _Bag[Image] = _Bag()  # downloadable private images
        self._deletable: _Bag[Image] = _Bag()  # private images in a settled state
        self._shared_active: _Bag[Image] = _Bag()  # what image members can be added to
        self._planned: dict[str, tuple[int, int]] = {}  # size, virtual_size of uploads under way
        self._action_cum = list(accumulate(self.mix.weights()))
        self._heap: list[tuple[int, int, Any, tuple[Any, ...]]] = []
        self._seq = 0
        self._now = 0  # microseconds since start
        self._out: list[Notification] = []
        if bootstrap:
            at = 0
            for image in catalogue:
                at = self._schedule_bootstrap(image, at)
            self._next_action = at + self._gap()
        else:
            for image in catalogue:
                self._settle(image)
            self._next_action = self._gap()

    # -- public API -----------------------------------------------------------------------------

    def next_batch(self, n: int) -> list[Notification]:
        """The next ``n`` notifications, in emission order (timestamps never go backwards).

        Every step -- an activity starting or a scheduled follow-up -- emits exactly one
        notification, so the batch is exactly ``n`` long and the truth covers exactly it.
        """
        out = self._out = []
        heap = self._heap
        while len(out) < n:
            if heap and heap[0][0] <= self._next_action:
                self._now, _, step, args = heappop(heap)
                step(*args)
            else:
                self._now = self._next_action
                self._next_action += self._gap()
                self._act()
        self._out = []
        return out

    def __iter__(self) -> Iterator[Notification]:
        """Endless stream; one step at a time so the truth never runs ahead of what was taken."""
        while True:
            yield self.next_batch(1)[0]

    @property
    def now(self) -> datetime:
        """The simulated time of the last notification."""
        return self._start + timedelta(microseconds=self._now)

    # -- plumbing -------------------------------------------------------------------------------

    def _gap(self) -> int:
        return int(self._rng.expovariate(self._rate) * 1e6) + 1

    def _at(self, delay_s: float, step: Any, *args: Any) -> None:
        self._seq += 1
        heappush(self._heap, (self._now + int(delay_s * 1e6) + 1, self._seq, step, args))

    def _stamp(self) -> datetime:
        return self._start + timedelta(microseconds=self._now)

    def _emit(self, host: str, event_type: str, priority: str, payload: Any) -> None:
        self._out.append({
            "message_id": _uuid4(self._rng), "publisher_id": host, "event_type": event_type,
            "priority": priority, "payload": payload,
            "timestamp": str(self._start + timedelta(microseconds=self._now)),
        })
        self.truth.notifications[(event_type, priority)] += 1

    def _emit_image(self, host: str, event_type: str, image: Image, **extra: Any) -> None:
        self._emit(host, event_type, "INFO", image.payload(**extra))
        self.truth._image(image)

    def _host(self) -> str:
        return self._hosts[int(self._rng.random() * len(self._hosts))]

    def _settle(self, image: Image) -> None:
        """The image reached a resting state: downloadable if active, deletable if private."""
        if image.visibility == "public":
            return
        if image.status == "active":
            self._private_active.add(image)
            if image.visibility == "shared":
                self._shared_active.add(image)
        self._deletable.add(image)

    # -- activities -----------------------------------------------------------------------------

    def _act(self) -> None:
        pick = self._rng.random() * self._action_cum[-1]
        kind = bisect(self._action_cum, pick)
        if kind == 1:
            self._start_upload()
        elif kind == 2:
            self._start_import()
        elif kind == 3:
            self._update()
        elif kind == 4 and len(self._deletable):
            self._delete()
        elif kind == 5 and len(self._shared_active):
            self._member()
        else:
            self._download()

    def _download(self) -> None:
        rng = self._rng
        mix = self.mix
        if rng.random() < mix.public_download_share or not len(self._private_active):
            image = self._public[bisect(self._public_cum, rng.random() * self._public_cum[-1])]
            receiver = self._project_ids[int(rng.random() * len(self._project_ids))]
        else:
            image = self._private_active.pick(rng)
            receiver = image.owner
            if image.visibility != "private" and rng.random() < 0.5:
                receiver = self._project_ids[int(rng.random() * len(self._project_ids))]
        users = self._users[receiver]
        size = image.size or 0
        partial = rng.random() < mix.partial_rate and size > 1
        sent = int(rng.random() * (size - 1)) + 1 if partial else size
        payload = {"bytes_sent": sent, "image_id": image.id, "owner_id": image.owner,
                   "receiver_tenant_id": receiver,
                   "receiver_user_id": users[int(rng.random() * len(users))]}
        if rng.random() < mix.cache_path_rate:
            payload["destination_ip"] = self._ip()
        outcome = "partial" if partial else "complete"
        self._emit(self._host(), "image.send", "ERROR" if partial else "INFO", payload)
        truth = self.truth
        truth.served_bytes[(image.owner, outcome)] += sent
        truth.downloaded_bytes[(receiver, outcome)] += sent
        truth.downloads[outcome] += 1

    def _ip(self) -> str:
        """A client address from the documentation ranges (RFC 5737 / RFC 3849)."""
        rng = self._rng
        if rng.random() < 0.25:
            return f"2001:db8:{rng.randrange(16):x}::{rng.randrange(1, 0xFFFF):x}"
        net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
        return f"{net}.{rng.randrange(1, 255)}"

    def _new_image(self) -> tuple[Image, str]:
        """A fresh queued record (as image.create reports it); its future data size is kept aside."""
        owner = self._project_ids[int(self._rng.random() * len(self._project_ids))]
        image = _private_image(self._rng, owner, self._public_ids, self._stamp())
        self._planned[image.id] = (image.size or MiB, image.virtual_size or MiB)
        image.status, image.size, image.virtual_size, image.checksum = "queued", None, None, None
        image.protected = False
        return image, self._host()

    def _start_upload(self) -> None:
        """image.create now; data arrives a few seconds later (PUT /v2/images/{id}/file)."""
        image, host = self._new_image()
        self._emit_image(host, "image.create", image)
        self._at(self._rng.uniform(1, 8), self._prepare, host, image, None, None)

    def _start_import(self) -> None:
        """image.create, then the interoperable-import task that fetches and stores the data."""
        image, host = self._new_image()
        self._emit_image(host, "image.create", image)
        rng = self._rng
        created = self._stamp() + timedelta(seconds=rng.uniform(1, 5))
        task = {"id": _uuid4(rng), "type": TASK_TYPE, "owner": image.owner,
                "created_at": _iso(created)}
        failed = rng.random() < self.mix.task_failure_rate
        self._at((created - self._stamp()).total_seconds(), self._task_event, host, task,
                 "task.processing", image, failed)

    def _task_event(self, host: str, task: dict[str, Any], event_type: str, image: Image,
                    failed: bool) -> None:
        """One task notification (TaskProxy / TaskRepoProxy), then schedule the next step.

        Glance sends task.processing (updated_at still the creation time), task.run, then
        task.success or task.failure; result and message are always None and expires_at is
        "now" until the task finishes, then now + 48 h.
        """
        now = self._stamp()
        status = {"task.success": "success", "task.failure": "failure"}.get(event_type, "processing")
        done = status != "processing"
        payload = {"id": task["id"], "type": task["type"], "status": status, "result": None,
                   "owner": task["owner"], "message": None,
                   "expires_at": _iso(now + TASK_TTL if done else now),
                   "created_at": task["created_at"],
                   "updated_at": task["created_at"] if event_type == "task.processing" else _iso(now),
                   "deleted": False, "deleted_at": None}
        self._emit(host, event_type, "INFO", payload)
        self.truth.task_events[(task["type"], status)] += 1
        if event_type == "task.failure":
            self.truth.task_failures[(task["type"], task["owner"])] += 1
        rng = self._rng
        if event_type == "task.processing":
            self._at(rng.uniform(0.005, 0.05), self._task_event, host, task, "task.run", image, failed)
        elif event_type == "task.run":
            if failed:  # e.g. web-download got a 404: no data ever reached a store
                self._planned.pop(image.id, None)
                self._at(rng.uniform(2, 60), self._task_event, host, task, "task.failure", image,
                         failed)
            else:
                store = rng.choice(_STORES)
                self._at(rng.uniform(0.5, 3), self._prepare, host, image, store, task)
        elif done:
            self._settle(image)

    def _prepare(self, host: str, image: Image, store: str | None, task: dict[str, Any] | None) -> None:
        rng = self._rng
        image.status = "importing" if task else "saving"
        image.updated_at = _iso(self._stamp())
        extra: dict[str, Any] = {"os_glance_importing_to_stores": [store] if store else [],
                                 "os_glance_failed_import": []}
        if store:
            image.properties["os_glance_importing_to_stores"] = store
            image.properties["os_glance_failed_import"] = ""
            extra["backend"] = store
        self._emit_image(host, "image.prepare", image, **extra)
        size, virtual = self._planned[image.id]
        seconds = size / (rng.uniform(80, 400) * MiB)
        if task is None and rng.random() < self.mix.upload_failure_rate:
            self._at(seconds * rng.uniform(0.05, 0.9), self._fail_upload, host, image)
        else:
            self._at(seconds, self._upload, host, image, size, virtual, store, task)

    def _upload(self, host: str, image: Image, size: int, virtual: int, store: str | None,
                task: dict[str, Any] | None) -> None:
        """set_data succeeded: image.upload (already active, size known), then image.activate."""
        image.status = "active"
        image.size, image.virtual_size, image.checksum = size, virtual, _hex32(self._rng)
        del self._planned[image.id]
        if store:
            image.properties["os_glance_importing_to_stores"] = ""
        self._emit_image(host, "image.upload", image, os_glance_importing_to_stores=[],
                         os_glance_failed_import=[])
        self._at(0.001, self._activate, host, image, task)

    def _activate(self, host: str, image: Image, task: dict[str, Any] | None) -> None:
        self._emit_image(host, "image.activate", image)
        if task is None:
            self._settle(image)
        else:
            self._at(self._rng.uniform(0.05, 0.5), self._task_event, host, task, "task.success", image,
                     False)

    def _fail_upload(self, host: str, image: Image) -> None:
        """The store failed mid-upload: ERROR image.upload (text), then Glance's _restore.

        ImageDataController._restore puts the image back to queued and saves it, which the
        notifier reports as image.update -- the only event that tells a consumer the status.
        """
        rng = self._rng
        pick = rng.random() * _UPLOAD_ERROR_CUM[-1]
        cause, _, template = _UPLOAD_ERRORS[bisect(_UPLOAD_ERROR_CUM, pick)]
        text = template.format(image_id=image.id, timeout=rng.choice((30, 60, 120)))
        self._emit(host, "image.upload", "ERROR", text)
        self.truth.upload_failures[cause] += 1
        self._planned.pop(image.id, None)
        self._at(0.002, self._restore, host, image)

    def _restore(self, host: str, image: Image) -> None:
        image.status = "queued"
        image.updated_at = _iso(self._stamp())
        self._emit_image(host, "image.update", image)
        self._settle(image)

    def _update(self) -> None:
        """A metadata change on an active image (PATCH /v2/images/{id})."""
        rng = self._rng
        if len(self._private_active) and rng.random() < 0.8:
            image = self._private_active.pick(rng)
        else:
            image = self._public[int(rng.random() * len(self._public))]
        if rng.random() < 0.3:
            tag = rng.choice(("validated", "deprecated", "gpu", "prod", "staging"))
            if tag not in image.tags:
                image.tags.append(tag)
        else:
            key, value = rng.choice(_UPDATES)
            image.properties[key] = value
        image.updated_at = _iso(self._stamp())
        self._emit_image(self._host(), "image.update", image)

    def _delete(self) -> None:
        """DELETE of a private image: full dict, status deleted; it is never served again."""
        image = self._deletable.pick(self._rng)
        self._deletable.discard(image)
        self._private_active.discard(image)
        self._shared_active.discard(image)
        stamp = _iso(self._stamp())
        image.status, image.updated_at, image.deleted_at = "deleted", stamp, stamp
        self._emit_image(self._host(), "image.delete", image)

    def _member(self) -> None:
        """Sharing a shared image with another project: image.member.create (catch-all topic)."""
        rng = self._rng
        image = self._shared_active.pick(rng)
        member = self._project_ids[int(rng.random() * len(self._project_ids))]
        if member == image.owner:
            member = self._project_ids[(self._project_ids.index(member) + 1) % len(self._project_ids)]
        stamp = _iso(self._stamp())
        self._emit(self._host(), "image.member.create", "INFO", {
            "image_id": image.id, "member_id": member, "status": "pending",
            "created_at": stamp, "updated_at": stamp, "deleted": False, "deleted_at": None})

    def _schedule_bootstrap(self, image: Image, at: int) -> int:
        """Announce a catalogue image as if it had just been uploaded; returns the next free time."""
        queued = dataclasses.replace(image, status="queued", size=None, virtual_size=None,
                                     checksum=None)
        host = self._hosts[0]
        steps = (("image.create", queued, {}),
                 ("image.prepare", dataclasses.replace(queued, status="saving"),
                  {"os_glance_importing_to_stores": [], "os_glance_failed_import": []}),
                 ("image.upload", image, {"os_glance_importing_to_stores": [],
                                          "os_glance_failed_import": []}),
                 ("image.activate", image, {}))
        for event_type, version, extra in steps:
            at += 20_000
            self._seq += 1
            heappush(self._heap, (at, self._seq, self._bootstrap_step,
                                  (host, event_type, version, extra, image)))
        return at

    def _bootstrap_step(self, host: str, event_type: str, version: Image, extra: dict[str, Any],
                        image: Image) -> None:
        self._emit(host, event_type, "INFO", version.payload(**extra))
        self.truth._image(version)
        if event_type == "image.activate":
            self._settle(image)


# --------------------------------------------------------------------------- fault injection


def inject_duplicates(notifications: Sequence[Notification], rate: float,
                      rng: random.Random) -> list[Notification]:
    """The stream as an at-least-once producer may deliver it: some messages twice.

    Each notification is, with probability ``rate``, delivered again a few positions later
    (a retried produce lands after a handful of newer records), with the same message_id. The
    copy is a new envelope dict sharing the payload. Ground truth is unaffected: the pipeline
    counts each message_id once.
    """
    out: list[Notification] = []
    pending: list[tuple[int, int, Notification]] = []
    for i, notification in enumerate(notifications):
        out.append(notification)
        while pending and pending[0][0] <= i:
            out.append(heappop(pending)[2])
        if rng.random() < rate:
            heappush(pending, (i + rng.randint(1, 8), i, dict(notification)))
    out.extend(item[2] for item in sorted(pending))
    return out


#: Malformed inputs by the reason AvroCodec.encode rejects them with.
MALFORMED_KINDS = ("not_json", "not_utf8", "not_an_object", "bad_envelope", "missing_field",
                   "wrong_type", "unknown_priority", "bad_timestamp")


def malformed_samples(rng: random.Random, n: int) -> list[tuple[str, bytes]]:
    """``n`` (reason, raw bytes) pairs a consumer must dead-letter, every kind in turn.

    Each starts from a plausible image.send and breaks one thing: not JSON at all or cut short,
    not UTF-8, a JSON array, a bad oslo.messaging envelope, a missing envelope or payload field,
    a wrongly typed field, a priority oslo knows but Glance's contract doesn't, a bad timestamp.
    """
    out: list[tuple[str, bytes]] = []
    offset = rng.randrange(len(MALFORMED_KINDS))
    for i in range(n):
        kind = MALFORMED_KINDS[(offset + i) % len(MALFORMED_KINDS)]
        base: dict[str, Any] = {
            "message_id": _uuid4(rng), "publisher_id": "image.glance-api-0",
            "event_type": "image.send", "priority": "INFO",
            "payload": {"bytes_sent": rng.randrange(1, 4 * GiB), "image_id": _uuid4(rng),
                        "owner_id": _hex32(rng), "receiver_tenant_id": _hex32(rng),
                        "receiver_user_id": _hex32(rng)},
            "timestamp": str(DEFAULT_START + timedelta(microseconds=rng.randrange(10**11))),
        }
        text = json.dumps(base)
        variant = rng.randrange(4)
        raw: bytes | str | Any
        if kind == "not_json":
            raw = (text[: rng.randrange(1, len(text) - 1)], "<html><body>502 Bad Gateway</body></html>",
                   "INFO image.send " + text[:60], "")[variant]
        elif kind == "not_utf8":
            raw = (b"\xff\xfe" + text.encode("utf-16-le"), text.encode("latin-1") + b"\xe9\xff",
                   bytes(rng.randrange(128, 256) for _ in range(64)),
                   b"\x00\x00\x00\x00\x65\xc3\x28")[variant]
        elif kind == "not_an_object":
            raw = ([base], "42", '"image.send"', "null")[variant]
        elif kind == "bad_envelope":
            raw = ({"oslo.version": "2.0", "oslo.message": text[:-5]},
                   {"oslo.version": "2.0", "oslo.message": base},
                   {"oslo.version": "2.0", "oslo.message": json.dumps([base])},
                   {"oslo.version": "2.0", "oslo.message": "null"})[variant]
        elif kind == "missing_field":
            if variant == 3:
                del base["payload"]["bytes_sent"]
            else:
                del base[("message_id", "payload", "timestamp")[variant]]
            raw = base
        elif kind == "wrong_type":
            if variant == 0:
                base["priority"] = 20
            elif variant == 1:
                base["message_id"] = rng.getrandbits(63)
            elif variant == 2:
                base["payload"] = [base["payload"]]
            else:
                base["payload"]["bytes_sent"] = "3.2 GiB"
            raw = base
        elif kind == "unknown_priority":
            base["priority"] = ("DEBUG", "CRITICAL", "SAMPLE", "audit")[variant]
            raw = base
        else:  # bad_timestamp
            base["timestamp"] = ("yesterday", "2025-13-45 99:00:00", "1741000000", "03/03/2025 08:00")[
                variant]
            raw = base
        if not isinstance(raw, bytes):
            raw = (raw if isinstance(raw, str) else json.dumps(raw)).encode("utf-8")
        out.append((kind, raw))
    return out


def inject_malformed(rng: random.Random, n: int) -> list[bytes]:
    """``n`` malformed raw inputs of assorted kinds, for dead-letter scenarios."""
    return [raw for _, raw in malformed_samples(rng, n)]
