from __future__ import annotations

import pytest

from nngexport.endpoints import bound_url, check_url, listen_plan, resolve
from nngexport.errors import UsageError


def test_ipc_pipelines_sit_beside_the_survey_socket() -> None:
    plan = listen_plan("ipc:///tmp/x/survey.ipc")
    assert plan.tasks == "ipc:///tmp/x/survey.ipc.tasks"
    assert plan.results == "ipc:///tmp/x/survey.ipc.results"


def test_tcp_pipelines_take_ephemeral_ports_on_the_same_host() -> None:
    plan = listen_plan("tcp://0.0.0.0:5555")
    assert plan.tasks == plan.results == "tcp://0.0.0.0:0"


def test_a_worker_keeps_the_host_it_dialed() -> None:
    assert resolve("tcp://0.0.0.0:4100", "tcp://db-box:5555") == "tcp://db-box:4100"
    assert resolve("ipc:///a.tasks", "ipc:///a") == "ipc:///a.tasks"


def test_the_bound_port_replaces_port_zero() -> None:
    assert bound_url("tcp://127.0.0.1:0", "127.0.0.1:41234") == "tcp://127.0.0.1:41234"
    assert bound_url("tcp://127.0.0.1:80", "whatever") == "tcp://127.0.0.1:80"


@pytest.mark.parametrize(
    "url",
    ["http://x", "tcp://host", "tcp://host:99999", "ipc://relative", "", "inproc://"],
)
def test_bad_addresses_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError, match="address"):
        check_url(url, what="address")
