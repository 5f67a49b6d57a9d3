"""A real glance-api server (Glance 33 from PyPI) for tests: uWSGI, SQLite, filesystem stores.

Glance 33 only runs under a WSGI server, so :class:`GlanceAPI` writes a config folder (its own
glance-api.conf and a paste ini), creates the SQLite database with ``glance-manage db_sync``
(then switches it to WAL, or the import task threads of several workers hit "database is
locked"), and starts ``uwsgi`` on a free port. There is no Keystone: the paste pipeline is
Glance's keystone pipeline without ``authtoken``, so Glance's ``context`` filter takes the
identity from the headers keystonemiddleware would have set, and :class:`GlanceClient` sends
them per project. Stopping signals the uWSGI master and then every worker it forked, by pid.

Notifications go wherever ``notifications`` says (``driver``, ``topics``, ``transport_url`` of
``[oslo_messaging_notifications]``; a list value repeats the option, as several drivers need),
and ``extra_config`` adds any other section, e.g.
``{"glance_kafka": {"bootstrap_servers": broker.bootstrap_servers}}``.

The ``glance_api`` fixture (registered in tests/conftest.py) is a factory: each call starts a
server in the test's temporary folder and the fixture stops all of them afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from producers.broker import free_port
from tests import uwsgi_stacks

__all__ = ["GlanceAPI", "GlanceClient", "GlanceError", "Project", "glance_api"]

BIN = Path(sys.executable).parent

#: Glance's keystone pipelines (etc/glance-api-paste.ini upstream) without authtoken, and without
#: healthcheck (oslo.middleware now refuses it as a filter; readiness is GET /versions).
_PIPELINE = "cors http_proxy_to_wsgi versionnegotiation osprofiler context"
PASTE_INI = f"""\
[pipeline:glance-api-headers]
pipeline = {_PIPELINE} rootapp

[pipeline:glance-api-headers+caching]
pipeline = {_PIPELINE} cache rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:cache]
paste.filter_factory = glance.api.middleware.cache:CacheFilter.factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[filter:osprofiler]
paste.filter_factory = osprofiler.web:WsgiMiddleware.factory

[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = glance
oslo_config_program = glance-api

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
"""

MiB = 1024**2
#: The statuses a Glance task ends in.
_TASK_ENDED = ("success", "failure")


class GlanceError(AssertionError):
    """glance-api answered with an unexpected status (the message carries its log's tail)."""


@dataclass(frozen=True)
class Project:
    """A Keystone-less identity: what the context filter reads from the request headers."""

    project_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    user_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    roles: tuple[str, ...] = ("member", "reader")

    def headers(self) -> dict[str, str]:
        return {"X-Identity-Status": "Confirmed", "X-Project-Id": self.project_id,
                "X-User-Id": self.user_id, "X-Roles": ",".join(self.roles)}


def _ini(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, options in sections.items():
        lines.append(f"[{name}]")
        for key, value in options.items():
            # a list is a multi-valued option (oslo.config MultiStrOpt: one line per value)
            values = value if isinstance(value, list | tuple) else [value]
            lines += [f"{key} = {v}" for v in values if v is not None]
        lines.append("")
    return "\n".join(lines)


class GlanceAPI:
    """One glance-api under uWSGI, configured in ``base_dir`` (kept for its log and stores)."""

    def __init__(self, base_dir: Path, *, workers: int = 1, cache: bool = False, lazy_apps: bool = True,
                 notifications: dict[str, Any] | None = None,
                 extra_config: dict[str, dict[str, Any]] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.base_dir = base_dir
        self.workers = workers
        self.cache = cache
        self.lazy_apps = lazy_apps
        self.notifications = dict(notifications or {"driver": "noop"})
        self.extra_config = extra_config or {}
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_dir = base_dir / "etc"
        self.database = base_dir / "glance.sqlite"
        self.store_dir = base_dir / "images"
        self.staging_dir = base_dir / "staging"
        self.log_path = base_dir / "glance-api.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._children: list[psutil.Process] = []

    # ------------------------------------------------------------------ config

    def config_sections(self) -> dict[str, dict[str, Any]]:
        """glance-api.conf, as {section: {option: value}}."""
        sections: dict[str, dict[str, Any]] = {
            "DEFAULT": {
                "enabled_backends": "fs:file",
                "enabled_import_methods": "[glance-direct,web-download]",
                "worker_self_reference_url": self.url,
                "debug": "false",
                "use_stderr": "true",
                "image_cache_dir": str(self.base_dir / "cache") if self.cache else None,
            },
            # timeout: SQLite waits this long for another worker's write lock (its default, 5 s,
            # ran out under the full parallel suite: "database is locked", HTTP 500).
            "database": {"connection": f"sqlite:///{self.database}?timeout=30"},
            "glance_store": {"default_backend": "fs"},
            "fs": {"filesystem_store_datadir": str(self.store_dir)},
            "os_glance_staging_store": {"filesystem_store_datadir": str(self.staging_dir)},
            "os_glance_tasks_store": {"filesystem_store_datadir": str(self.base_dir / "tasks")},
            "paste_deploy": {"config_file": str(self.config_dir / "glance-api-paste.ini"),
                             "flavor": "headers+caching" if self.cache else "headers"},
            "oslo_messaging_notifications": self.notifications,
            "oslo_policy": {"enforce_scope": "false", "enforce_new_defaults": "true"},
        }
        for name, options in self.extra_config.items():
            sections.setdefault(name, {}).update(options)
        return sections

    def write_config(self) -> None:
        for folder in (self.config_dir, self.store_dir, self.staging_dir, self.base_dir / "tasks"):
            folder.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "glance-api.conf").write_text(_ini(self.config_sections()))
        (self.config_dir / "glance-api-paste.ini").write_text(
            PASTE_INI)
        (self.config_dir / "uwsgi.ini").write_text(_ini({"uwsgi": {
            "http-socket": f"127.0.0.1:{self.port}",
            "module": "glance.wsgi.api:application",
            "master": "true",
            "processes": self.workers,
            "threads": 4,
            "enable-threads": "true",
            # each worker loads Glance itself after the fork, as devstack runs it; False: the
            # master loads it once and forks (quicker to start, and how a fork-unsafe
            # notifier driver would be caught)
            "lazy-apps": "true" if self.lazy_apps else "false",
            "die-on-term": "true",
            # a worker draining Glance's task pool at exit gets 15 s, not uWSGI's default 60
            "worker-reload-mercy": 15,
            "reload-mercy": 15,
            "exit-on-reload": "true",
            "buffer-size": 65535,
            "add-header": "Connection: close",
            "need-app": "true",
            # SIGRTMIN+2 makes a worker log every thread's stack (tests/uwsgi_stacks.py); the
            # project's root on the path, not tests/, whose modules' names could shadow others
            "pythonpath": str(Path(__file__).resolve().parents[1]),
            "import": "tests.uwsgi_stacks",
        }}))

    #: A database glance-manage made once per test process, copied for every later server:
    #: db_sync costs ~5-10 s here, the copy nothing.
    _template: Path | None = None

    def db_sync(self) -> None:
        template = GlanceAPI._template
        if template is not None and template.exists():
            shutil.copyfile(template, self.database)
            return
        result = subprocess.run(
            [str(BIN / "glance-manage"), "--config-file", str(self.config_dir / "glance-api.conf"),
             "db_sync"], capture_output=True, text=True, timeout=300, env=self._env())
        if result.returncode:
            raise RuntimeError(f"glance-manage db_sync failed:\n{result.stderr[-3000:]}")
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            db.execute("PRAGMA journal_mode=WAL")  # kept in the file (and so in its copies)
        folder = tempfile.mkdtemp(prefix="glance-db-")
        atexit.register(shutil.rmtree, folder, True)
        template = Path(folder) / "template.sqlite"
        shutil.copyfile(self.database, template)
        GlanceAPI._template = template

    def _env(self) -> dict[str, str]:
        return {**os.environ, "OS_GLANCE_CONFIG_DIR": str(self.config_dir), **self.env}

    # ------------------------------------------------------------------ life cycle

    def start(self, timeout: float = 120.0) -> GlanceAPI:
        self.write_config()
        self.db_sync()
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.process = subprocess.Popen(
            [str(BIN / "uwsgi"), "--ini", str(self.config_dir / "uwsgi.ini")],
            stdout=log, stderr=subprocess.STDOUT, env=self._env(), cwd=self.base_dir)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"glance-api exited ({self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError), \
                    urllib.request.urlopen(f"{self.url}/versions", timeout=5) as response:
                if response.status == 200 and self.apps_loaded() >= self.expected_apps():
                    self._children = self.worker_processes()
                    return
            time.sleep(0.25)
        raise RuntimeError(f"glance-api not ready after {timeout}s:\n{self.log_tail()}")

    def expected_apps(self) -> int:
        """How many times uWSGI loads Glance: in each worker after the fork with lazy-apps, once
        in the master without."""
        return self.workers if self.lazy_apps else 1

    def apps_loaded(self) -> int:
        """Ready means every worker has Glance loaded, not one answering: a SIGTERM while another
        worker still loads it (seconds on a fresh clone's first run, compiling bytecode) makes
        uWSGI destroy the whole instance ("need-app"), so no worker runs its exit hooks."""
        try:
            return self.log_path.read_text(errors="replace").count("WSGI app 0 (mountpoint='') ready")
        except OSError:
            return 0

    def worker_processes(self) -> list[psutil.Process]:
        """The uWSGI workers (and anything else the master forked), by pid."""
        if self.process is None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.process.pid).children(recursive=True)
        return []

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the master (die-on-term stops the workers), SIGKILL to whatever is left."""
        if self.process is None:
            return
        children = {p.pid: p for p in [*self._children, *self.worker_processes()]}
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        _gone, alive = psutil.wait_procs(list(children.values()), timeout=timeout)
        for child in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(alive, timeout=10)

    def __enter__(self) -> GlanceAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def diagnosis(self, lines: int = 40) -> str:
        """What to read when Glance did not do something in time: the errors in its log, the
        stack of every thread in every worker (tests/uwsgi_stacks.py), and the log's tail."""
        def read() -> list[str]:
            try:
                return self.log_path.read_text(errors="replace").splitlines()
            except OSError:
                return []
        before = len(read())
        for worker in self.worker_processes():
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                os.kill(worker.pid, uwsgi_stacks.SIGNAL)
        time.sleep(1.0)
        log = read()
        errors = [line for line in log[:before] if " ERROR " in line or "Traceback" in line]
        tail = log[max(0, before - lines):]
        return "\n".join(["--- errors in glance-api's log", *errors[-lines:],
                          "--- the log's tail and the workers' stacks", *tail])

    def client(self, project: Project) -> GlanceClient:
        return GlanceClient(self, project)

    # ------------------------------------------------------------------ Glance's own accounting

    def usage(self, project_id: str) -> dict[str, int]:
        """Glance's quota accounting for a project, in bytes, from the server's own database.

        /v2/info/usage answers only with ``use_keystone_limits`` (it asks Keystone for the
        limits) and in MiB; this runs the same functions it calls (glance.db.sqlalchemy.api
        user_get_storage_usage / user_get_staging_usage / user_get_image_count /
        user_get_uploading_count) in a child process on this server's config and database.
        """
        script = (
            "import json, sys\n"
            "from oslo_config import cfg\n"
            "from glance.common import config\n"
            "import glance.context, glance.db.sqlalchemy.api as db\n"
            "cfg.CONF(['--config-file', sys.argv[1]], project='glance')\n"
            "ctx = glance.context.get_admin_context()\n"
            "p = sys.argv[2]\n"
            "print(json.dumps({'stored': db.user_get_storage_usage(ctx, p),\n"
            "  'staged': db.user_get_staging_usage(ctx, p),\n"
            "  'images': db.user_get_image_count(ctx, p),\n"
            "  'uploading': db.user_get_uploading_count(ctx, p)}))\n")
        result = subprocess.run(
            [sys.executable, "-c", script, str(self.config_dir / "glance-api.conf"), project_id],
            capture_output=True, text=True, timeout=120, env=self._env())
        if result.returncode:
            raise RuntimeError(f"reading Glance's usage failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])


def _zeros(size: int, chunk: int = MiB) -> Iterator[bytes]:
    block = bytes(min(chunk, size) or 1)
    left = size
    while left > 0:
        n = min(left, chunk)
        yield block[:n]
        left -= n


class GlanceClient:
    """Glance's v2 API as one project sees it, over plain HTTP."""

    def __init__(self, api: GlanceAPI, project: Project) -> None:
        self.api = api
        self.project = project

    def request(self, method: str, path: str, body: Any = None, *,
                content_type: str = "application/json", expect: tuple[int, ...] = (200,),
                headers: dict[str, str] | None = None) -> Any:
        data: Any = body
        if body is not None and not isinstance(body, bytes):
            data = json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api.url}{path}", data=data, method=method,
            headers={**self.project.headers(), "Content-Type": content_type, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
        if status not in expect:
            raise GlanceError(f"{method} {path}: HTTP {status} {text[:500]!r}\n{self.api.log_tail()}")
        return json.loads(text) if text and text[:1] in b"{[" else None

    def create_image(self, name: str, *, disk_format: str = "raw", container_format: str = "bare",
                     **properties: Any) -> dict[str, Any]:
        return self.request("POST", "/v2/images", {
            "name": name, "disk_format": disk_format, "container_format": container_format,
            **properties}, expect=(201,))

    def image(self, image_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v2/images/{image_id}")

    def upload(self, image_id: str, size: int) -> None:
        """PUT ``size`` zero bytes as the image's data (image.prepare, upload, activate)."""
        self._put_data(f"/v2/images/{image_id}/file", size)

    def stage(self, image_id: str, size: int) -> None:
        """glance-direct's first step: the data goes to the staging store only."""
        self._put_data(f"/v2/images/{image_id}/stage", size)

    def _put_data(self, path: str, size: int) -> None:
        self.request("PUT", path, b"".join(_zeros(size)), content_type="application/octet-stream",
                     expect=(204,))

    def import_image(self, image_id: str, method: str = "glance-direct",
                     **options: Any) -> None:
        self.request("POST", f"/v2/images/{image_id}/import",
                     {"method": {"name": method, **options}}, expect=(202,))

    def tasks(self, image_id: str) -> list[dict[str, Any]]:
        """GET /v2/images/{id}/tasks. Not a read: Glance soft-deletes expired tasks in the same
        write transaction (tasks_get_by_image), so wait_for_task does not poll it."""
        return self.request("GET", f"/v2/images/{image_id}/tasks")["tasks"]

    def wait_for_task(self, image_id: str, timeout: float = 90.0) -> dict[str, Any]:
        """The image's import task, once it is success or failure, polled with reads only.

        Polling GET /v2/images/{id}/tasks (a write, see tasks()) raced the import thread's own
        first save on SQLite: "database is locked", which Glance's thread pool swallows, and the
        task stayed pending for good (twice in about 60 imports on a loaded machine). So the task's id
        comes from the image's import lock (os_glance_import_task, set before the task exists,
        dropped when it ends) and the task from GET /v2/tasks/{id} (task_get: a read), which
        Glance's policy gives the project's admin only.
        """
        task_id = self.image(image_id).get("os_glance_import_task")
        if task_id is None:  # the flow has ended (the lock goes last but for a failure's save)
            return _wait(lambda: next((t for t in self.tasks(image_id)
                                       if t["status"] in _TASK_ENDED), None),
                         timeout, f"import task of {image_id}", self.api)
        admin = self.api.client(Project(self.project.project_id, self.project.user_id,
                                        ("admin", *self.project.roles)))

        def finished() -> dict[str, Any] | None:
            task = admin.request("GET", f"/v2/tasks/{task_id}")
            return task if task["status"] in _TASK_ENDED else None
        return _wait(finished, timeout, f"import task {task_id} of {image_id}", self.api)

    def wait_for_status(self, image_id: str, status: str, timeout: float = 90.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            image = self.image(image_id)
            return image if image["status"] == status else None
        return _wait(reached, timeout, f"image {image_id} {status}", self.api)

    def download(self, image_id: str) -> int:
        """GET the image's data in full; returns the bytes received."""
        connection, response = self._open_download(image_id)
        try:
            received = 0
            while chunk := response.read(MiB):
                received += len(chunk)
            return received
        finally:
            connection.close()

    def abort_download(self, image_id: str, read: int) -> int:
        """Read ``read`` bytes of the image's data, then close the socket mid-body."""
        connection, response = self._open_download(image_id)
        try:
            return len(response.read(read))
        finally:
            # The response owns the socket (Connection: close): closing it with unread data
            # resets the connection, so the server sees the client go away mid-transfer.
            response.close()
            connection.close()

    def _open_download(self, image_id: str) -> tuple[http.client.HTTPConnection, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.api.port, timeout=120)
        connection.request("GET", f"/v2/images/{image_id}/file", headers=self.project.headers())
        response = connection.getresponse()
        if response.status != 200:
            body = response.read()
            connection.close()
            raise GlanceError(f"download {image_id}: HTTP {response.status} {body[:300]!r}\n"
                              f"{self.api.log_tail()}")
        return connection, response

    def patch(self, image_id: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
        return self.request("PATCH", f"/v2/images/{image_id}", operations,
                            content_type="application/openstack-images-v2.1-json-patch")

    def set_property(self, image_id: str, name: str, value: Any) -> dict[str, Any]:
        return self.patch(image_id, [{"op": "add", "path": f"/{name}", "value": value}])

    def delete(self, image_id: str) -> None:
        self.request("DELETE", f"/v2/images/{image_id}", expect=(204,))

    def share(self, image_id: str, member: Project) -> None:
        """Make a private image readable by ``member`` (shared visibility, member accepted)."""
        self.patch(image_id, [{"op": "replace", "path": "/visibility", "value": "shared"}])
        self.request("POST", f"/v2/images/{image_id}/members", {"member": member.project_id})
        self.api.client(member).request(
            "PUT", f"/v2/images/{image_id}/members/{member.project_id}", {"status": "accepted"})


def _wait(condition: Callable[[], Any], timeout: float, what: str, api: GlanceAPI) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise GlanceError(f"timed out after {timeout}s waiting for {what}\n{api.diagnosis()}")


@pytest.fixture
def glance_api(tmp_path: Path) -> Iterator[Callable[..., GlanceAPI]]:
    """Factory: ``glance_api(notifications=..., extra_config=..., workers=..., cache=...)``
    starts a glance-api; every one started is stopped (with its workers) after the test."""
    started: list[GlanceAPI] = []

    def start(**options: Any) -> GlanceAPI:
        api = GlanceAPI(tmp_path / f"glance-{len(started)}", **options)
        started.append(api)
        return api.start()

    try:
        yield start
    finally:
        for api in started:
            api.stop()
