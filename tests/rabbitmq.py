"""A real RabbitMQ node (Debian's rabbitmq-server) as a test subprocess, stopped by pid; and
oslo.messaging's Notifier and listeners on it, as Glance and Ceilometer use them.

Debian's `/usr/sbin/rabbitmq-server` switches to the `rabbitmq` user; the script under
/usr/lib/rabbitmq/bin runs as the caller. Every path the node writes (mnesia, logs, pid file,
plugins, feature flags, the Erlang cookie in HOME) lives in one folder of the test's, and the
node name and both ports are unique, so several engineers' and test runs' nodes never meet.
The script is a shell that runs the Erlang VM as its child: both are started in a session of
their own so that stop() can end the VM too, and the VM's pid (from RABBITMQ_PID_FILE) is checked
to be gone. epmd, which the first node on a machine starts and every node shares, is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from producers.broker import free_port
from tests.integration.oslo_support import notify_like, spy_on_drivers

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet's deprecation, at oslo.messaging's import
    import oslo_messaging
    from oslo_config import cfg
    from oslo_messaging import opts as oslo_opts

#: What glance-api's notifier uses as publisher_id (image.<host>).
GLANCE_PUBLISHER = "image.localhost"
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


class RabbitMQError(RuntimeError):
    """The node did not start, or rabbitmqctl failed."""


class RabbitMQ:
    """One RabbitMQ node on 127.0.0.1, its own data under `base`; a context manager."""

    def __init__(self, base: Path, port: int | None = None) -> None:
        self.base = Path(base)
        self.port = port or free_port()
        self.dist_port = free_port()
        self.node = f"gk{uuid.uuid4().hex[:10]}@localhost"
        self.pid_file = self.base / "rabbit.pid"
        self.log_dir = self.base / "log"
        self.process: subprocess.Popen[bytes] | None = None

    # -- addresses ------------------------------------------------------------------------------

    @property
    def transport_url(self) -> str:
        return self.url()

    def url(self, user: str = "guest", password: str = "guest", vhost: str = "") -> str:  # noqa: S107
        """An oslo.messaging transport URL for this node (guest may connect from 127.0.0.1)."""
        return f"rabbit://{user}:{password}@127.0.0.1:{self.port}/{vhost}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.base / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.log_dir),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.base / "feature_flags"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),  # none there: the defaults
        }

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> RabbitMQ:
        for sub in ("home", "mnesia", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text("[].\n")
        log = open(self.log_dir / "console.log", "ab")  # noqa: SIM115 - the child's lifetime
        self.process = subprocess.Popen([SERVER], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while not self._accepts():
                if self.process.poll() is not None:
                    raise RabbitMQError(f"rabbitmq-server exited ({self.process.returncode}):\n"
                                        f"{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RabbitMQError(f"rabbitmq-server not accepting AMQP on {self.port} after "
                                        f"{timeout:.0f}s:\n{self.log_tail()}")
                time.sleep(0.2)
            # The AMQP listener opens at the end of the boot (after the default vhost and user
            # exist); `rabbitmqctl await_startup` would add another Erlang VM start (2-12 s).
        except BaseException:
            self.stop()
            raise
        return self

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def beam_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the node's session (the script and the VM), SIGKILL after `timeout`."""
        if self.process is None:
            return
        beam = self.beam_pid()
        if self.process.poll() is None or (beam and _alive(beam)):
            self._signal(signal.SIGTERM, beam)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and (
                    self.process.poll() is None or (beam and _alive(beam))):
                time.sleep(0.2)
            if self.process.poll() is None or (beam and _alive(beam)):
                self._signal(signal.SIGKILL, beam)
                self.process.wait(timeout=10)
                deadline = time.monotonic() + 10
                while beam and _alive(beam) and time.monotonic() < deadline:
                    time.sleep(0.1)
        self.process.wait(timeout=10)

    def _signal(self, sig: int, beam: int | None) -> None:
        """The script's pid is its session's and process group's id (start_new_session)."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        if beam:
            with contextlib.suppress(ProcessLookupError):
                os.kill(beam, sig)

    def __enter__(self) -> RabbitMQ:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- inspection -------------------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = 120.0) -> str:
        """Runs `rabbitmqctl -q -n NODE ARGS`; its stdout."""
        result = subprocess.run([CTL, "-q", "-n", self.node, *args], env=self.env,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RabbitMQError(f"rabbitmqctl {' '.join(args)}: exit {result.returncode}: "
                                f"{(result.stderr or result.stdout).strip()}")
        return result.stdout

    def list_queues(self, vhost: str = "/") -> dict[str, int]:
        """Each queue's name and its ready + unacknowledged message count."""
        out = self.ctl("list_queues", "-p", vhost, "--no-table-headers", "name", "messages")
        queues: dict[str, int] = {}
        for line in out.splitlines():
            name, _, count = line.rpartition("\t")
            if name and count.strip().isdigit():
                queues[name] = int(count)
        return queues

    def add_vhost(self, vhost: str) -> None:
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

    def delete_queues(self, *names: str, vhost: str = "/") -> None:
        for name in names:
            self.ctl("delete_queue", "-p", vhost, name)

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for path in sorted(self.log_dir.glob("*.log")):
            text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        return f"RabbitMQ({self.node}, amqp={self.port})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie we did not reap still answers kill(0): read its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# -- oslo.messaging on the node, as Glance and Ceilometer use it ----------------------------

def _conf(rabbit_options: dict[str, Any] | None = None) -> cfg.ConfigOpts:
    """oslo.messaging options as Glance has them: control exchange `glance`, and any
    [oslo_messaging_rabbit] options given."""
    conf = cfg.ConfigOpts()
    conf([], project="glance", default_config_files=[])
    for group, options in oslo_opts.list_opts():
        conf.register_opts(options, group=group)
    conf.set_override("control_exchange", "glance")
    for name, value in (rabbit_options or {}).items():
        conf.set_override(name, value, group="oslo_messaging_rabbit")
    return conf


class GlanceLikeNotifier:
    """oslo.messaging's Notifier on the rabbit transport, driver messagingv2, as glance-api sends."""

    def __init__(self, url: str, topics: list[str],
                 rabbit_options: dict[str, Any] | None = None) -> None:
        self.transport = oslo_messaging.get_notification_transport(_conf(rabbit_options), url=url)
        self.notifier = oslo_messaging.Notifier(self.transport, publisher_id=GLANCE_PUBLISHER,
                                                driver="messagingv2", topics=topics)
        self.sent = spy_on_drivers(self.notifier)  # what oslo handed the driver, message_id and all

    def send(self, notification: dict[str, Any]) -> None:
        notify_like(self.notifier, notification)

    def send_many(self, notifications: list[dict[str, Any]], threads: int = 8) -> None:
        """From several threads (each publish waits for RabbitMQ's confirm), as busy glance-api
        workers would."""
        with ThreadPoolExecutor(threads) as pool:
            for chunk in range(threads):
                pool.submit(lambda c=chunk: [self.send(n) for n in notifications[c::threads]])

    def close(self) -> None:
        self.transport.cleanup()


class BareListener:
    """oslo.messaging's batch listener that only acknowledges, recording message_ids: on the
    default queues (no pool) it listens as Ceilometer does."""

    def __init__(self, url: str, topic: str, pool: str | None = None,
                 batch_size: int = 100, batch_timeout: float = 0.2) -> None:
        self.transport = oslo_messaging.get_notification_transport(_conf(), url=url)
        self.seen: Counter[str] = Counter()
        lock = threading.Lock()

        def record(messages: list[dict[str, Any]]) -> None:
            with lock:
                self.seen.update(m["metadata"]["message_id"] for m in messages)

        endpoint = type("Ceilometer", (), {p: staticmethod(record) for p in ("info", "warn", "error")})
        self.server = oslo_messaging.get_batch_notification_listener(
            self.transport, [oslo_messaging.Target(exchange="glance", topic=topic)], [endpoint()],
            pool=pool, batch_size=batch_size, batch_timeout=batch_timeout)
        self.server.start()

    def close(self) -> None:
        self.server.stop()
        self.server.wait()
        self.transport.cleanup()


def declare_pool(url: str, topic: str, pool: str) -> None:
    """What the tap's first start does to RabbitMQ: its pool queue, bound to <topic>.<priority>."""
    transport = oslo_messaging.get_notification_transport(_conf(), url=url)
    endpoint = type("Nothing", (), {p: staticmethod(lambda m: None) for p in ("info", "error")})
    server = oslo_messaging.get_batch_notification_listener(
        transport, [oslo_messaging.Target(exchange="glance", topic=topic)], [endpoint()], pool=pool)
    server.start()
    server.stop()
    server.wait()
    transport.cleanup()
