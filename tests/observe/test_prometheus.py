"""Multiprocess metrics served by ``legacy-api metrics-server``, scraped by a real Prometheus.

Client processes (``tests.observe.workload``) run against the emulator with
``LEGACY_API_METRICS=on`` and ``PROMETHEUS_MULTIPROC_DIR``; ``legacy-api metrics-server``
serves what they all wrote; ``promtool check metrics`` lints it; a Prometheus server
(Debian's ``prometheus`` package, installed by ``make install``) scrapes it every second,
and every PromQL expression of ``dashboards/legacy-api.json`` must return data.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

pytest.importorskip("prometheus_client", reason="the metrics extra is not installed")

from fourd_emulator import EmulatorConfig, EmulatorServer, serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboards" / "legacy-api.json"


def _env(multiproc: Path) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {
        **os.environ,
        "PYTHONPATH": path,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "LEGACY_API_METRICS": "on",
    }


def _workload(env: dict[str, str], live: EmulatorServer, refused: EmulatorServer) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.observe.workload", live.base_url, refused.base_url],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    done: dict[str, Any] = eval(proc.stdout.strip().splitlines()[-1])
    return done


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, deadline: float) -> None:
    while True:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer in time")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[EmulatorServer, EmulatorServer]]:
    """A live emulator and one with no licence free."""
    with serve(EmulatorConfig(rows=600)) as live, serve(EmulatorConfig(rows=10, licences=0)) as no:
        yield live, no


@pytest.fixture(scope="module")
def multiproc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty PROMETHEUS_MULTIPROC_DIR."""
    return tmp_path_factory.mktemp("multiproc")


@pytest.fixture(scope="module")
def metrics_server(multiproc: Path) -> Iterator[str]:
    """``legacy-api metrics-server --port 0`` on the directory; yields its /metrics URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "legacy_adapters.cli", "metrics-server", "--port", "0"],
        env=_env(multiproc),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "serving metrics on http://" in line, proc.stderr.read() if proc.stderr else ""
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def two_runs(
    emulators: tuple[EmulatorServer, EmulatorServer], multiproc: Path, metrics_server: str
) -> list[dict[str, Any]]:
    """The workload run in two client processes, one after the other."""
    return [_workload(_env(multiproc), *emulators) for _ in range(2)]


def _samples(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_server_sums_every_process(metrics_server, two_runs):
    """The served counters are the sum over both client processes."""
    text = requests.get(metrics_server, timeout=5).text
    assert sum(run["rows"] for run in two_runs) + 400 == _samples(
        text, "legacy_api_rows_read_total"
    )
    assert sum(run["written"] for run in two_runs) == _samples(
        text, "legacy_api_entities_written_total"
    )
    assert 2 == _samples(text, "legacy_api_stamp_conflicts_total")


def test_metrics_server_answers_404_elsewhere(metrics_server):
    """Only /metrics (and /) are served."""
    assert 404 == requests.get(metrics_server.replace("/metrics", "/other"), timeout=5).status_code


def test_metrics_server_needs_the_multiprocess_directory():
    """Without PROMETHEUS_MULTIPROC_DIR the command says what to set: configuration, exit 1."""
    env = {k: v for k, v in _env(Path()).items() if k.upper() != "PROMETHEUS_MULTIPROC_DIR"}
    proc = subprocess.run(
        [sys.executable, "-m", "legacy_adapters.cli", "metrics-server", "--port", "0"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 1 == proc.returncode
    assert "PROMETHEUS_MULTIPROC_DIR" in proc.stderr


def test_promtool_accepts_the_exposition(metrics_server, two_runs):
    """``promtool check metrics`` finds nothing to complain about."""
    assert two_runs
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus; make install adds it)")
    text = requests.get(metrics_server, timeout=5).text
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert 0 == proc.returncode, proc.stdout + proc.stderr


def _dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_dashboard_is_importable_as_is():
    """The dashboard has a uid, a datasource variable and a query in every panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert "legacy-api" == dashboard["uid"]
    assert "datasource" in {v["name"] for v in dashboard["templating"]["list"]}
    assert all(panel["targets"] for panel in dashboard["panels"])
    assert {"${datasource}"} == {
        target["datasource"]["uid"] for panel in dashboard["panels"] for target in panel["targets"]
    }


@pytest.fixture(scope="module")
def prometheus(metrics_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus scraping the metrics server every second; yields its base URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not installed (Debian package prometheus; make install adds it)")
    work = tmp_path_factory.mktemp("prometheus")
    target = metrics_server.removeprefix("http://").removesuffix("/metrics")
    (work / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: legacy-api\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(work / "prometheus.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base + "/-/ready", time.monotonic() + 60)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _query(base: str, expr: str) -> list[Any]:
    answer = requests.get(base + "/api/v1/query", params={"query": expr}, timeout=10).json()
    assert "success" == answer["status"], answer
    return answer["data"]["result"]  # type: ignore[no-any-return]


def test_every_dashboard_panel_returns_data(prometheus, emulators, multiproc):
    """With client processes working while Prometheus scrapes, each panel's PromQL has series."""
    env = _env(multiproc)
    _workload(env, *emulators)
    time.sleep(2.5)  # two scrapes with the counters moved in between
    _workload(env, *emulators)
    time.sleep(2.5)
    empty = []
    for title, expr in _dashboard_queries():
        # Grafana's variables: all environments, a rate window covering the scrapes.
        promql = expr.replace('"$environment"', '".*"').replace("$__rate_interval", "1m")
        if not _query(prometheus, promql):
            empty.append(f"{title}: {promql}")
    assert [] == empty
