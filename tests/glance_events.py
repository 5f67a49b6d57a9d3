"""Real Glance notifications, produced by Glance's own notifier code, for tests.

Glance 33 builds every image/task notification in ``glance.notifier`` (ImageRepoProxy,
ImageProxy, ImageMemberRepoProxy, TaskProxy) and, for the image-cache middleware, in
``glance.api.common.image_send_notification``. This module drives exactly those code paths over
small in-memory stubs (no database, no store, no API server), so the payloads are the ones a real
Glance API process hands to oslo.messaging:

* :func:`emit_glance_events` -- run the scenario against any ``notifier`` with
  ``info/warn/error(event_type, payload)`` (a ``glance.notifier.Notifier`` or a stand-in).
* :func:`glance_notifications` -- the message dicts exactly as ``oslo_messaging.Notifier`` builds
  them (message_id, publisher_id, event_type, priority, payload, timestamp), captured with
  oslo.messaging's in-process ``test`` driver on a private ``ConfigOpts`` (global CONF untouched).
* :func:`glance_notifier_with_driver` -- a real ``glance.notifier.Notifier`` whose
  ``[oslo_messaging_notifications] driver`` is set on the global CONF for the duration of a
  ``with`` block (overrides cleared on exit), for end-to-end runs through a third-party driver.
* :func:`seed_notifications` -- hand-written notifications in the shapes the Glance docs page
  documents (which differ from what Glance 33 really sends, see the notes below).

What Glance 33 really sends (vs. the docs page):

* Image INFO payloads (create/update/prepare/upload/activate/delete) are all the same dict from
  ``format_image_notification``: id, name, status, created_at, updated_at, min_disk, min_ram,
  protected, checksum, owner, disk_format, container_format, size, virtual_size, is_public,
  visibility, properties, tags, deleted, deleted_at. image.prepare and image.upload add
  os_glance_importing_to_stores / os_glance_failed_import (lists); image.prepare alone adds
  ``backend`` when a store was named. image.delete is that full dict with deleted=True and
  deleted_at set -- not the bare image id the docs describe.
* Datetimes inside payloads are ``YYYY-MM-DDTHH:MM:SSZ`` (no fraction); the envelope timestamp is
  ``str(datetime)``, i.e. ``YYYY-MM-DD HH:MM:SS.ffffff`` -- and without ``.ffffff`` whenever the
  microsecond happens to be 0.
* Task payloads use id/type (not task_id/task_type), carry no task_input, and result and message
  are always None, even for task.success and task.failure. expires_at is never null: a null
  expires_at is formatted as "now". task.failure is INFO priority, like every task.* event.
* Image ERROR payloads (image.upload on a store error) are a plain text message (str).
  image.send ERROR keeps the dict payload; it is sent when the store yields fewer bytes than
  expected, not when the client goes away (an abandoned download sends nothing at all).
  The v2 download path has no destination_ip; the cache middleware path has it.
* No WARN notification is emitted by any of these code paths.

What a real glance-api 33 adds to that (tests/integration/test_real_glance.py, under uWSGI with
enabled_backends, SQLite and a filesystem store):

* ``task.create`` (INFO, status pending, the task dict) for every task, from
  TaskRepoProxy.add -- the docs page omits it; it has its own schema and topic now, and
  :func:`emit_glance_events` sends it too.
* ``task.run`` comes only after the flow returns, with the stale status ``pending``, and not at
  all when the flow raises; task.success carries ``result = None`` and task.failure
  ``message = None`` although the task API shows the result and "Task failed due to Internal
  Error"; ``expires_at`` on task.create/processing is "now".
* With ``enabled_backends``, image.prepare carries ``backend`` (the default store's name) on a
  plain PUT upload too, not only when a store was named.
* glance-direct: staging sends image.update with status ``uploading`` and the staged size
  before any data is in a store; the import sends image.update ``importing``, then
  image.prepare / image.upload (whose ``os_glance_importing_to_stores`` still lists the store
  being written) per store. A failed import (a disk_format that does not match the data) sends
  ERROR image.upload "... due to internal error: Image disk_format qcow2 does not match stream
  data raw", leaves the image ``importing`` and its staged data counted in Glance's staging
  usage.
* A download the client abandons sends no image.send at all -- unless the whole image fitted in
  the socket buffers before the client went away, in which case Glance reports it complete
  (INFO, bytes_sent = the full size): bytes_sent is what Glance wrote, not what was received.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import hashlib
import random
import uuid
from collections.abc import Iterator
from typing import Any

import glance.api.common
import glance.async_
import glance.context
import glance.domain
import glance.notifier
import glance_store
import oslo_messaging
import webob
import webob.exc
from oslo_config import cfg
from oslo_messaging.notify import _impl_test

__all__ = [
    "DOCUMENTED_EVENT_TYPES",
    "MEMBER_EVENT_TYPES",
    "PUBLISHER_ID",
    "emit_glance_events",
    "glance_notifications",
    "glance_notifier_with_driver",
    "seed_notifications",
]

PUBLISHER_ID = "image.localhost"

DOCUMENTED_EVENT_TYPES = (
    "image.create",
    "image.prepare",
    "image.upload",
    "image.activate",
    "image.send",
    "image.update",
    "image.delete",
    "task.run",
    "task.processing",
    "task.success",
    "task.failure",
)
MEMBER_EVENT_TYPES = ("image.member.create", "image.member.update", "image.member.delete")

# Keystone-style ids: 32 lowercase hex digits.
PROJECT_ACME = "a3f1c2d4e5b64789a0b1c2d3e4f50617"
PROJECT_WIDGETS = "5e0c9b7a2d4f4e6a8b1c3d5e7f901234"
PROJECT_DATALAB = "9d8c7b6a5f4e4d3c2b1a09f8e7d6c5b4"
PROJECT_CONSUMER = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
PROJECT_PARTNER = "3c4d5e6f708192a3b4c5d6e7f8091a2b"
USER_ACME = "0b1c2d3e4f5a46b7c8d9e0f1a2b3c4d5"
USER_WIDGETS = "7e6d5c4b3a2948f7e6d5c4b3a2918e7f"
USER_DATALAB = "c1d2e3f4a5b647c8d9e0f1a2b3c4d5e6"
USER_CONSUMER = "e9f8a7b6c5d44e3f2a1b0c9d8e7f6a5b"

GiB = 1024**3
MiB = 1024**2
_ZEROS = memoryview(bytes(MiB))


# --------------------------------------------------------------------------- stubs


class _Enforcer:
    """Policy enforcer stand-in: glance.context.RequestContext asks it whether the user is admin."""

    def check_is_admin(self, context: Any) -> bool:
        return False


def _context(project_id: str, user_id: str) -> glance.context.RequestContext:
    return glance.context.RequestContext(
        project_id=project_id, user_id=user_id, roles=["member", "reader"],
        policy_enforcer=_Enforcer())


def _chunks(total: int) -> Iterator[memoryview]:
    """``total`` bytes as 1 MiB chunks, without allocating more than one MiB."""
    left = total
    while left > 0:
        n = min(left, MiB)
        yield _ZEROS[:n]
        left -= n


class _StoredImage(glance.domain.Image):
    """A glance.domain.Image whose data lives in a pretend store.

    ``stored_bytes`` caps what the store hands back (a truncated object in the backend);
    ``store_error`` is raised by set_data after the first chunk (a store failing mid-upload).
    """

    def __init__(self, *, virtual_size_after_upload: int | None = None,
                 stored_bytes: int | None = None, store_error: Exception | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._virtual_size_after_upload = virtual_size_after_upload
        self._stored_bytes = stored_bytes
        self._store_error = store_error

    def get_data(self, offset: int = 0, chunk_size: int | None = None) -> Iterator[memoryview]:
        total = max((self.size or 0) - offset, 0)
        if chunk_size:
            total = min(total, chunk_size)
        if self._stored_bytes is not None:
            total = min(total, max(self._stored_bytes - offset, 0))
        return _chunks(total)

    def set_data(self, data: Any, size: int | None = None, backend: str | None = None,
                 set_active: bool = True) -> None:
        received = 0
        for chunk in data:
            received += len(chunk)
            if self._store_error is not None:
                raise self._store_error
        self.size = received
        self.virtual_size = self._virtual_size_after_upload or received
        digest = hashlib.md5(self.image_id.encode(), usedforsecurity=False)
        self.checksum = digest.hexdigest()
        self.os_hash_algo = "sha512"
        self.os_hash_value = hashlib.sha512(self.image_id.encode()).hexdigest()
        self.locations = [{"url": f"rbd://{backend or 'default'}/images/{self.image_id}/snap",
                           "metadata": {"store": backend or "default"}}]
        if set_active:
            self.status = "active"


class _ImageDB:
    """The image repository Glance's ImageRepoProxy wraps (glance.db.ImageRepo's role)."""

    def add(self, image: glance.domain.Image) -> None:
        image.updated_at = image.created_at

    def save(self, image: glance.domain.Image, from_state: str | None = None) -> None:
        image.updated_at = _utcnow()

    def remove(self, image: glance.domain.Image) -> None:
        image.updated_at = _utcnow()

    def get(self, image_id: str) -> None:
        raise NotImplementedError

    def list(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


class _MemberDB:
    """The membership repository Glance's ImageMemberRepoProxy wraps."""

    def add(self, member: glance.domain.ImageMembership) -> None:
        pass

    def save(self, member: glance.domain.ImageMembership, from_state: str | None = None) -> None:
        member.updated_at = _utcnow()

    def remove(self, member: glance.domain.ImageMembership) -> None:
        pass

    def get(self, member_id: str) -> None:
        raise NotImplementedError

    def list(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


class _TaskDB:
    """The task repository Glance's TaskRepoProxy wraps (what a task executor reads from)."""

    def __init__(self) -> None:
        self.tasks: dict[str, glance.domain.Task] = {}

    def get(self, task_id: str) -> glance.domain.Task:
        return self.tasks[task_id]

    def add(self, task: glance.domain.Task) -> None:
        self.tasks[task.task_id] = task

    def save(self, task: glance.domain.Task) -> None:
        task.updated_at = _utcnow()

    def remove(self, task: glance.domain.Task) -> None:
        self.tasks.pop(task.task_id, None)


class _DeferredExecutor(glance.async_.TaskExecutor):
    """Like the taskflow executor: marks the task processing, then runs it "in the background".

    begin_processing() is Glance's own; _run() only records the task, so the test drives the
    outcome (succeed/fail) afterwards, as the flow would from its worker thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started: list[str] = []

    def _run(self, task_id: str, task_type: str) -> None:
        self.started.append(task_id)


def _utcnow() -> datetime.datetime:
    # Glance keeps naive UTC datetimes on its domain objects.
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _new_image(image_id: str, *, created_at: datetime.datetime, **kwargs: Any) -> _StoredImage:
    return _StoredImage(image_id=image_id, status=kwargs.pop("status", "queued"),
                        created_at=created_at, updated_at=created_at, **kwargs)


def _new_task(task_id: str, task_type: str, owner: str, user_id: str, image_id: str | None,
              task_input: dict[str, Any], created_at: datetime.datetime) -> glance.domain.Task:
    return glance.domain.Task(
        task_id=task_id, task_type=task_type, status="pending", owner=owner,
        image_id=image_id, user_id=user_id, request_id=f"req-{uuid.uuid4()}",
        expires_at=None, created_at=created_at, updated_at=created_at,
        task_input=task_input, result=None, message=None)


def _request(path: str, remote_addr: str, context: Any) -> webob.Request:
    req = webob.Request.blank(path, remote_addr=remote_addr)
    req.context = context
    return req


# --------------------------------------------------------------------------- scenario


def emit_glance_events(notifier: Any) -> None:
    """Drive Glance 33's notifier code so ``notifier`` receives a realistic day of events.

    Emits image.create/prepare/upload/activate/update/delete/send, image.upload ERROR (text),
    image.send INFO and ERROR (v2 download and cache-middleware paths), task.create/run/
    processing/success/failure, and image.member.create/update/delete.
    """
    N = glance.notifier
    t0 = _utcnow() - datetime.timedelta(hours=2, minutes=13, seconds=7)

    acme = _context(PROJECT_ACME, USER_ACME)
    widgets = _context(PROJECT_WIDGETS, USER_WIDGETS)
    datalab = _context(PROJECT_DATALAB, USER_DATALAB)
    consumer = _context(PROJECT_CONSUMER, USER_CONSUMER)

    images = _ImageDB()

    # 1. A public Ubuntu cloud image, > 2 GiB on disk and 20 GiB virtual: create, upload, update.
    ubuntu = _new_image(
        "6f4f0a1e-3c5b-4e0d-9a57-1b2c3d4e5f60", created_at=t0, name="ubuntu-24.04-server-cloudimg",
        visibility="public", owner=PROJECT_ACME, disk_format="qcow2", container_format="bare",
        min_disk=20, min_ram=1024, virtual_size_after_upload=20 * GiB,
        extra_properties={"hw_disk_bus": "scsi", "hw_scsi_model": "virtio-scsi",
                          "os_distro": "ubuntu", "os_version": "24.04", "os_admin_user": "ubuntu",
                          "hw_qemu_guest_agent": "yes"},
        tags=["ubuntu", "lts", "cloud-image"])
    ubuntu_size = 3 * GiB + 7 * MiB + 4242
    repo = N.ImageRepoProxy(images, acme, notifier)
    as_acme = N.ImageProxy(ubuntu, acme, notifier)
    repo.add(as_acme)                                               # image.create (queued)
    as_acme.set_data(_chunks(ubuntu_size), ubuntu_size)             # prepare, upload, activate
    ubuntu.extra_properties["hw_rng_model"] = "virtio"
    ubuntu.tags = [*ubuntu.tags, "noble"]
    repo.save(as_acme, from_state="active")                         # image.update

    # 2. A private image that stays queued (size/virtual_size None): update, then delete.
    rhel = _new_image(
        "0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d", created_at=t0 + datetime.timedelta(minutes=3),
        name="rhel-9.4-golden", visibility="private", owner=PROJECT_WIDGETS,
        extra_properties={"os_distro": "rhel", "os_version": "9.4", "description": "golden build"},
        tags=[])
    repo_w = N.ImageRepoProxy(images, widgets, notifier)
    as_widgets = N.ImageProxy(rhel, widgets, notifier)
    repo_w.add(as_widgets)                                          # image.create
    rhel.name = "rhel-9.4-golden-v2"
    rhel.disk_format, rhel.container_format = "raw", "bare"
    repo_w.save(as_widgets, from_state="queued")                    # image.update
    rhel.status = "deleted"           # what Image.delete() does (delayed_delete off)
    repo_w.remove(as_widgets)                                       # image.delete

    # 3. A shared image imported to store 'fast' while 'cheap' is pending and 'ceph-az2' failed.
    shared_size = 1 * GiB + 512 * MiB
    winsrv = _new_image(
        "b1a2c3d4-e5f6-4789-8abc-def012345678", created_at=t0 + datetime.timedelta(minutes=5),
        name="windows-server-2022-std", visibility="shared", owner=PROJECT_DATALAB,
        disk_format="raw", container_format="bare", min_disk=40, min_ram=4096,
        extra_properties={"os_type": "windows", "os_distro": "windows",
                          "hw_firmware_type": "uefi", "hw_machine_type": "q35",
                          "os_glance_importing_to_stores": "fast,cheap",
                          "os_glance_failed_import": "ceph-az2"},
        tags=["windows", "licensed"])
    repo_d = N.ImageRepoProxy(images, datalab, notifier)
    as_datalab = N.ImageProxy(winsrv, datalab, notifier)
    repo_d.add(as_datalab)                                          # image.create

    def import_stream() -> Iterator[memoryview]:
        yield from _chunks(shared_size)
        # The import flow drops a store from the pending list once it has the data.
        winsrv.extra_properties["os_glance_importing_to_stores"] = "cheap"

    as_datalab.set_data(import_stream(), shared_size, backend="fast")  # prepare(+backend), ...

    # 4. Uploads the store refuses: ERROR image.upload with a text payload (after INFO prepare).
    for image_id, error, http_error in (
            ("d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70",
             glance_store.StorageFull(message="Free space 2.1 GiB < 8.0 GiB requested"),
             webob.exc.HTTPRequestEntityTooLarge),
            ("e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7081",
             glance_store.StorageWriteDenied(message="Permission denied: /var/lib/glance/images"),
             webob.exc.HTTPServiceUnavailable)):
        broken = _new_image(image_id, created_at=t0 + datetime.timedelta(minutes=7),
                            name="fedora-41-cloud-base", visibility="community", owner=PROJECT_ACME,
                            disk_format="qcow2", container_format="bare", store_error=error,
                            extra_properties={"os_distro": "fedora", "os_version": "41"},
                            tags=["fedora"])
        as_acme_broken = N.ImageProxy(broken, acme, notifier)
        repo.add(as_acme_broken)                                    # image.create
        with contextlib.suppress(http_error):
            as_acme_broken.set_data(_chunks(8 * MiB), 8 * GiB)     # prepare, ERROR upload (str)
    broken.status = "deleted"
    repo.remove(as_acme_broken)                                     # image.delete (never active)

    # 5. Members of the shared image: invite two projects, one accepts, one is removed.
    members = N.ImageMemberRepoProxy(_MemberDB(), as_datalab, datalab, notifier)
    factory = glance.domain.ImageMemberFactory()
    invite = N.ImageMemberProxy(factory.new_image_member(winsrv, PROJECT_CONSUMER), datalab, notifier)
    other = N.ImageMemberProxy(factory.new_image_member(winsrv, PROJECT_PARTNER), datalab, notifier)
    members.add(invite)                                             # image.member.create
    members.add(other)                                              # image.member.create
    invite.status = "accepted"
    members.save(invite, from_state="pending")                      # image.member.update
    members.remove(other)                                           # image.member.delete

    # 6. Downloads (v2 API: no destination_ip).
    for _ in N.ImageProxy(ubuntu, consumer, notifier).get_data():  # INFO image.send, full
        pass
    for _ in N.ImageProxy(ubuntu, consumer, notifier).get_data(offset=GiB, chunk_size=64 * MiB):
        pass                                                        # INFO image.send, range
    winsrv._stored_bytes = shared_size - 300 * MiB - 17
    for _ in N.ImageProxy(winsrv, consumer, notifier).get_data():  # ERROR image.send, short read
        pass

    # 7. Served from the image cache (cache middleware path: has destination_ip).
    glance.api.common.image_send_notification(
        ubuntu_size, ubuntu_size, {"id": ubuntu.image_id, "owner": ubuntu.owner},
        _request(f"/v2/images/{ubuntu.image_id}/file", "203.0.113.57", consumer), notifier)
    glance.api.common.image_send_notification(
        117 * MiB, shared_size, {"id": winsrv.image_id, "owner": winsrv.owner},
        _request(f"/v2/images/{winsrv.image_id}/file", "2001:db8:4:2::1c", consumer), notifier)

    # 8. Tasks. An image import that succeeds, one that fails inside the flow, and a legacy
    # 'import' task on the base executor, which fails it synchronously ("not setup").
    task_db = _TaskDB()
    tasks = N.TaskRepoProxy(task_db, datalab, notifier)
    deferred = _DeferredExecutor(datalab, tasks, repo_d, None)

    ok = _new_task("8e1f2a3b-4c5d-4e6f-9a0b-1c2d3e4f5a6b", "api_image_import", PROJECT_DATALAB,
                   USER_DATALAB, winsrv.image_id,
                   {"image_id": winsrv.image_id, "import_req": {"method": {"name": "web-download",
                    "uri": "https://cloud.example.com/win2022.raw"}, "stores": ["fast", "cheap"]},
                    "backend": ["fast", "cheap"]}, t0 + datetime.timedelta(minutes=6))
    bad = _new_task("9f2a3b4c-5d6e-4f70-8b1c-2d3e4f5a6b7c", "api_image_import", PROJECT_DATALAB,
                    USER_DATALAB, winsrv.image_id,
                    {"image_id": winsrv.image_id, "import_req": {"method": {"name": "glance-direct"}},
                     "backend": ["ceph-az2"]}, t0 + datetime.timedelta(minutes=6))
    for task in (ok, bad):
        tasks.add(N.TaskProxy(task, datalab, notifier))            # task.create (pending)
        N.TaskProxy(task, datalab, notifier).run(deferred)          # task.processing, task.run
    tasks.get(ok.task_id).succeed({"image_id": winsrv.image_id})    # task.success
    tasks.get(bad.task_id).fail("Image import failed: Free space 0 B < 1.5 GiB requested on ceph-az2")

    legacy = _new_task("a0b1c2d3-e4f5-4a6b-8c7d-8e9f0a1b2c3d", "import", PROJECT_ACME, USER_ACME,
                       None, {"import_from": "https://mirror.example.org/cirros-0.6.2.img",
                              "import_from_format": "qcow2",
                              "image_properties": {"name": "cirros", "disk_format": "qcow2",
                                                   "container_format": "bare"}},
                       t0 + datetime.timedelta(minutes=9))
    acme_tasks = N.TaskRepoProxy(task_db, acme, notifier)
    acme_tasks.add(N.TaskProxy(legacy, acme, notifier))            # task.create
    base_executor = glance.async_.TaskExecutor(acme, acme_tasks, repo, None)
    acme_tasks.get(legacy.task_id).run(base_executor)              # processing, failure, run


# --------------------------------------------------------------------------- capture


def _private_transport(driver: str) -> Any:
    """A notification transport on its own ConfigOpts: ``driver``, ``transport_url = fake:``."""
    conf = cfg.ConfigOpts()
    transport = oslo_messaging.get_notification_transport(conf, url="fake:")
    conf.set_override("driver", [driver], group="oslo_messaging_notifications")
    return transport


def glance_notifications() -> list[dict[str, Any]]:
    """Notifications as oslo.messaging builds them, from a real run of :func:`emit_glance_events`.

    Uses a glance.notifier.Notifier (Glance's own info/warn/error wrappers) whose oslo.messaging
    Notifier sits on a private ConfigOpts with ``driver = test`` and ``transport_url = fake:``;
    the messages come from oslo.messaging's in-process test driver. Returned dicts are deep
    copies, in emission order.
    """
    transport = _private_transport("test")
    notifier = glance.notifier.Notifier.__new__(glance.notifier.Notifier)
    notifier._transport = transport
    notifier._notifier = oslo_messaging.Notifier(transport, publisher_id=PUBLISHER_ID)
    start = len(_impl_test.NOTIFICATIONS)
    try:
        emit_glance_events(notifier)
        captured = _impl_test.NOTIFICATIONS[start:]
    finally:
        del _impl_test.NOTIFICATIONS[start:]
        transport.cleanup()
    return [copy.deepcopy(message) for _ctxt, message, _priority, _retry in captured]


def _split_key(key: str) -> tuple[str | None, str]:
    group, _, name = key.rpartition(".")
    return (group or None), name


@contextlib.contextmanager
def glance_notifier_with_driver(driver: str, conf_overrides: dict[str, Any] | None = None
                                ) -> Iterator[glance.notifier.Notifier]:
    """A real ``glance.notifier.Notifier`` using oslo.messaging notification driver ``driver``.

    Sets ``[oslo_messaging_notifications] driver`` and ``transport_url = fake:`` on the global
    ``cfg.CONF`` (which is what glance.notifier.Notifier reads) for the duration of the block and
    clears every override on exit. ``conf_overrides`` maps ``"group.option"`` (or ``"option"``
    for [DEFAULT]) to a value, e.g. ``{"glance_kafka.bootstrap_servers": "localhost:9092",
    "default_publisher_id": "image.glance-api-0"}``. Options a driver registers only when it is
    loaded (like ``[glance_kafka]``) are applied right after the Notifier loads its drivers --
    in time for drivers that read their options lazily.
    """
    conf = cfg.CONF
    applied: list[tuple[str | None, str]] = []

    def override(group: str | None, name: str, value: Any) -> None:
        conf.set_override(name, value, group=group)
        applied.append((group, name))

    def try_overrides(pending: dict[str, Any]) -> dict[str, Any]:
        left = {}
        for key, value in pending.items():
            group, name = _split_key(key)
            try:
                override(group, name, value)
            except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
                left[key] = value
        return left

    notifier = None
    try:
        # Registers [oslo_messaging_notifications] on CONF, as Glance does at startup.
        oslo_messaging.get_notification_transport(conf, url="fake:").cleanup()
        override("oslo_messaging_notifications", "driver", [driver])
        override("oslo_messaging_notifications", "transport_url", "fake:")
        pending = try_overrides(dict(conf_overrides or {}))
        notifier = glance.notifier.Notifier()
        pending = try_overrides(pending)
        if pending:
            raise cfg.NoSuchOptError(", ".join(sorted(pending)))
        yield notifier
    finally:
        if notifier is not None:
            notifier._transport.cleanup()
        for group, name in reversed(applied):
            conf.clear_override(name, group=group)


# --------------------------------------------------------------------------- doc-shaped seeds


def seed_notifications() -> list[dict[str, Any]]:
    """Notifications shaped as the Glance docs' "Notifications" page describes them.

    Covers all 11 documented event types. image.send carries the six documented keys
    (destination_ip included); image.delete INFO is just the image id; WARN and ERROR on image.*
    and task.* carry a text message; task payloads use the documented task_id/owner/task_type/
    status/task_input/result/message/expires_at/created_at/updated_at. Envelopes use mixed-case
    priorities on a couple of messages and one timestamp without a fraction. Deterministic.
    """
    rng = random.Random(20250314)

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    stamp = datetime.datetime(2024, 11, 2, 17, 4, 9, 120004)
    out: list[dict[str, Any]] = []

    def add(event_type: str, priority: str, payload: Any, *, publisher: str = "image.glance-api-01",
            timestamp: str | None = None) -> None:
        nonlocal stamp
        stamp += datetime.timedelta(seconds=1, microseconds=rng.randint(1, 999_999))
        out.append({"message_id": uid(), "publisher_id": publisher, "event_type": event_type,
                    "priority": priority, "payload": payload,
                    "timestamp": timestamp or stamp.strftime("%Y-%m-%d %H:%M:%S.%f")})

    image_id = uid()
    created = "2024-11-02T17:03:58Z"

    def image(status: str, size: int | None, updated: str) -> dict[str, Any]:
        return {"id": image_id, "name": "debian-12-genericcloud", "status": status,
                "created_at": created, "updated_at": updated, "min_disk": 2, "min_ram": 512,
                "protected": False,
                "checksum": None if size is None else "9a2c8f0e7b1d4c3a6e5f4d3c2b1a0f9e",
                "owner": PROJECT_WIDGETS, "disk_format": "qcow2", "container_format": "bare",
                "size": size, "virtual_size": None if size is None else 2 * GiB,
                "is_public": True, "visibility": "public",
                "properties": {"os_distro": "debian", "os_version": "12", "hw_disk_bus": "virtio"},
                "tags": ["debian"], "deleted": False, "deleted_at": None}

    size = 344_981_504
    add("image.create", "INFO", image("queued", None, created))
    add("image.prepare", "info", image("queued", None, created))
    add("image.upload", "INFO", image("active", size, "2024-11-02T17:04:11Z"))
    add("image.activate", "INFO", image("active", size, "2024-11-02T17:04:11Z"))
    add("image.update", "INFO", image("active", size, "2024-11-02T17:05:40Z"))
    add("image.upload", "ERROR", f"Image storage media is full: no space left for image {uid()}")
    add("image.update", "Warn", f"Image {image_id} property os_version is deprecated")
    add("image.send", "INFO", {"image_id": image_id, "owner_id": PROJECT_WIDGETS,
                               "receiver_tenant_id": PROJECT_CONSUMER,
                               "receiver_user_id": USER_CONSUMER,
                               "destination_ip": "198.51.100.23", "bytes_sent": size})
    add("image.send", "ERROR", {"image_id": image_id, "owner_id": PROJECT_WIDGETS,
                                "receiver_tenant_id": PROJECT_ACME, "receiver_user_id": USER_ACME,
                                "destination_ip": "2001:db8::7", "bytes_sent": 12_582_912},
        publisher="image.glance-api-02")
    add("image.delete", "INFO", image_id, timestamp="2024-11-02 17:09:00")
    add("image.delete", "ERROR", f"Image {image_id} is protected and cannot be deleted")

    task_id = uid()
    task_input = {"import_from": "http://mirror.example.org/debian-12.qcow2",
                  "import_from_format": "qcow2",
                  "image_properties": {"name": "debian-12", "disk_format": "qcow2",
                                       "container_format": "bare"}}

    def task(status: str, result: dict[str, Any] | None, message: str | None,
             updated: str, expires: str | None) -> dict[str, Any]:
        return {"task_id": task_id, "owner": PROJECT_ACME, "task_type": "import",
                "status": status, "task_input": task_input, "result": result,
                "message": message, "expires_at": expires,
                "created_at": "2024-11-02T17:10:00Z", "updated_at": updated}

    add("task.run", "INFO", task("pending", None, None, "2024-11-02T17:10:00Z", None))
    add("task.processing", "INFO", task("processing", None, None, "2024-11-02T17:10:01Z", None))
    add("task.success", "INFO", task("success", {"image_id": uid()}, None,
                                     "2024-11-02T17:12:30Z", "2024-11-04T17:12:30Z"))
    add("task.failure", "INFO", task("failure", None, "Image import failed: HTTP 404 from source",
                                     "2024-11-02T17:12:31Z", "2024-11-04T17:12:31Z"))
    add("task.run", "WARN", f"Task {task_id} took 300 s to be picked up by an executor")
    add("task.failure", "ERROR", f"Task {task_id} could not be marked as failed: database gone")
    add("task.processing", "ERROR", f"Task {task_id} status failed to change from pending to processing")
    return out
