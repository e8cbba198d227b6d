"""`fastlayers playground`: the server's API (page and assets, sessions, the event stream and
its frames, validation errors, independent sessions, a closed stream ending its session) on an
ephemeral port of 127.0.0.1, and the page itself in headless Chromium when one is installed
(FASTLAYERS_PLAYGROUND_SCREENSHOT=path also keeps the test's screenshot there)."""
from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time

import numpy as np
import pytest

from fastlayers.playground import params as P
from fastlayers.playground import session as S
from fastlayers.playground.server import make_server

TIMEOUT = 20.0


@pytest.fixture
def server():
    srv = make_server("127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(TIMEOUT)


def request(srv, method: str, path: str, body=None, raw: bytes | None = None):
    """(status, content type, body bytes) of one request."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=TIMEOUT)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def api(srv, method: str, path: str, body=None, raw=None):
    status, ctype, data = request(srv, method, path, body, raw)
    assert ctype == "application/json", (status, ctype, data[:200])
    return status, json.loads(data)


def new_session(srv, **params) -> str:
    status, reply = api(srv, "POST", "/api/session", params)
    assert status == 200, reply
    return reply["id"]


class Stream:
    """The session's event stream, read event by event with a deadline."""

    def __init__(self, srv, sid: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=TIMEOUT)
        self.conn.request("GET", f"/api/session/{sid}/stream")
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200 and self.resp.getheader("Content-Type") == "text/event-stream"

    def next(self, kind: str = "frame", timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        event, data = None, None
        while time.monotonic() < deadline:
            line = self.resp.fp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and event is not None:
                if event == kind:
                    return json.loads(data)
                event = data = None
        raise TimeoutError(f"no {kind!r} event within {timeout} s")

    def frame_where(self, cond, timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = self.next("frame", max(0.1, deadline - time.monotonic()))
            if cond(f):
                return f
        raise TimeoutError("no frame met the condition in time")

    def close(self) -> None:
        self.resp.close()
        self.conn.close()


def wait_until(cond, timeout: float = TIMEOUT, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(poll)
    return False


def test_page_and_assets_load(server):
    status, ctype, page = request(server, "GET", "/")
    assert status == 200 and ctype.startswith("text/html")
    for asset, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        assert f"/static/{asset}".encode() in page
        status, ctype, body = request(server, "GET", f"/static/{asset}")
        assert status == 200 and ctype.startswith(kind) and len(body) > 500
    assert b"http" not in page.replace(b"http-equiv", b"")  # no CDN: everything is served from here
    status, reply = api(server, "GET", "/static/../server.py")
    assert status == 404 and "no such" in reply["error"]


def test_session_streams_frames_with_the_expected_fields(server):
    sid = new_session(server, dataset="spiral", features=["x1", "x2", "sin(x1)"], layers=[4, 3], train_ratio=0.6)
    stream = Stream(server, sid)
    try:
        data = stream.next("data")
        assert len(data["train"]["x"]) == 300 and len(data["test"]["y"]) == 200
        assert data["grid"] == S.GRID == 50 and data["params"]["dataset"] == "spiral"
        f0 = stream.next("frame")
        assert f0["epoch"] == 0 and f0["layers"] == [3, 4, 3]
        assert len(base64.b64decode(f0["output"])) == 50 * 50
        assert len(f0["neurons"]) == 3 + 4 + 3
        assert all(len(base64.b64decode(m)) == 50 * 50 for m in f0["neurons"])
        assert [np.shape(w) for w in f0["weights"]] == [(4, 3), (3, 4), (2, 3)]
        assert np.isfinite(f0["train_loss"]) and np.isfinite(f0["test_loss"])
        assert api(server, "POST", f"/api/session/{sid}/control", {"action": "play"})[1]["playing"] is True
        f1 = stream.frame_where(lambda f: f["epoch"] >= 20)
        assert f1["test_loss"] != f0["test_loss"] and f1["output"] != f0["output"]
        api(server, "POST", f"/api/session/{sid}/control", {"action": "pause"})
        epoch = api(server, "GET", f"/api/session/{sid}")[1]["epoch"]
        api(server, "POST", f"/api/session/{sid}/control", {"action": "step"})
        assert stream.frame_where(lambda f: f["epoch"] > epoch)["epoch"] == epoch + 1
        api(server, "POST", f"/api/session/{sid}/control", {"action": "reset"})
        assert stream.next("data")["params"]["layers"] == [4, 3]
        assert stream.frame_where(lambda f: f["epoch"] == 0)["layers"] == [3, 4, 3]
    finally:
        stream.close()


@pytest.mark.parametrize("bad, field", [
    ({"layers": [0]}, "layers[0]"), ({"layers": [2] * 100}, "layers"), ({"learning_rate": "abc"}, "learning_rate"),
    ({"learning_rate": "nan"}, "learning_rate"), ({"features": []}, "features"), ({"dataset": "moons"}, "dataset"),
    ({"batch_size": 2.5}, "batch_size"), ({"activation": "swish"}, "activation"), ({"epochs": 3}, "epochs"),
    ({"layers": "4,4"}, "layers"), ({"layers": [9]}, "layers[0]"),
])
def test_bad_parameters_give_a_json_error_and_the_server_keeps_serving(server, bad, field):
    status, reply = api(server, "POST", "/api/session", bad)
    assert status == 400 and reply["field"] == field and reply["error"].startswith(field + ":"), reply
    sid = new_session(server)  # still serving, and a session's parameters are checked too
    status, reply = api(server, "POST", f"/api/session/{sid}/params", bad)
    assert status == 400 and reply["field"] == field
    assert request(server, "GET", "/")[0] == 200
    server.end_session(sid)


def test_bad_requests_are_json_errors(server):
    assert api(server, "POST", "/api/session", raw=b"{not json")[0] == 400
    assert api(server, "POST", "/api/session", raw=b"[1, 2]")[1]["field"] == "params"
    sid = new_session(server)
    status, reply = api(server, "POST", f"/api/session/{sid}/control", {"action": "faster"})
    assert status == 400 and reply["field"] == "action"
    assert api(server, "GET", "/api/session/nope")[0] == 404
    assert api(server, "POST", "/api/session/nope/control", {"action": "play"})[0] == 404
    assert api(server, "GET", "/nothing/here")[0] == 404
    server.end_session(sid)


def test_two_sessions_are_independent(server):
    a = new_session(server, layers=[3])
    b = new_session(server, layers=[5, 2], dataset="xor")
    sa, sb = Stream(server, a), Stream(server, b)
    try:
        assert sa.next()["layers"] == [2, 3] and sb.next()["layers"] == [2, 5, 2]
        api(server, "POST", f"/api/session/{a}/control", {"action": "play"})
        sa.frame_where(lambda f: f["epoch"] >= 5)
        state_b = api(server, "GET", f"/api/session/{b}")[1]
        assert state_b["epoch"] == 0 and not state_b["playing"] and state_b["params"]["dataset"] == "xor"
        sa.close()  # a ends; b carries on
        assert wait_until(lambda: a not in server.sessions)
        api(server, "POST", f"/api/session/{b}/control", {"action": "step"})
        assert sb.frame_where(lambda f: f["epoch"] == 1)["layers"] == [2, 5, 2]
    finally:
        sa.close()
        sb.close()


def test_closing_the_stream_stops_training(server):
    sid = new_session(server)
    session = server.sessions[sid]
    stream = Stream(server, sid)
    api(server, "POST", f"/api/session/{sid}/control", {"action": "play"})
    stream.frame_where(lambda f: f["epoch"] >= 3)
    stream.close()
    assert wait_until(lambda: sid not in server.sessions, timeout=10)
    assert session.closed and session.join(TIMEOUT)
    epoch = session.epoch
    time.sleep(3 * S.FRAME_INTERVAL)
    assert session.epoch == epoch
    assert api(server, "GET", f"/api/session/{sid}")[0] == 404


def test_a_paused_session_notices_a_closed_stream(server):
    sid = new_session(server)
    stream = Stream(server, sid)
    stream.next()
    stream.close()
    assert wait_until(lambda: sid not in server.sessions, timeout=10)


def test_frames_are_dropped_not_queued():
    s = S.Session(P.validate({"layers": [2]}))
    try:
        s.control("play")
        assert wait_until(lambda: s.version >= 5)
        s.control("pause")
        with s.cond:  # a reader late by many frames finds only the newest one, of the last epoch
            assert s.latest["epoch"] == s.epoch > 0 and s.version >= 5
    finally:
        s.close()
        assert s.join(TIMEOUT)


def test_validate_defaults_and_canonical_features():
    p = P.validate({"features": ["sin(x2)", "x1", "x1"], "dataset": "gaussians", "learning_rate": "0.1",
                    "layers": [], "activation": "maxout"})
    assert p["features"] == ["x1", "sin(x2)"] and p["dataset"] == "gaussian" and p["learning_rate"] == 0.1
    s = S.Session(p)  # 0 hidden layers and maxout build
    try:
        assert [np.shape(w) for w in s.latest["weights"]] == [(2, 2)] and len(s.latest["neurons"]) == 2
    finally:
        s.close()
        assert s.join(TIMEOUT)


def test_a_diverging_network_still_sends_valid_json():
    s = S.Session(P.validate({"optimizer": "sgd", "learning_rate": 10, "activation": "relu", "layers": [8, 8],
                              "regularization": "l2", "reg_rate": 10}))
    try:
        for _ in range(5):
            s.control("step")
        assert wait_until(lambda: s.latest["epoch"] == 5)
        json.dumps(s.latest, allow_nan=False)  # NaN or inf would break JSON.parse on the page
        assert len(base64.b64decode(s.latest["output"])) == S.GRID ** 2
    finally:
        s.close()
        assert s.join(TIMEOUT)


def test_cli_parses_and_refuses_a_busy_port(capsys):
    from fastlayers.cli import main
    srv = make_server("127.0.0.1", 0)
    try:
        assert main(["playground", "--no-browser", "--port", str(srv.server_port)]) == 2
        assert "--port" in capsys.readouterr().err
    finally:
        srv.server_close()


def test_in_headless_chromium(server, tmp_path):
    from chromium_cdp import Browser, find_chromium
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (apt-get install chromium, or set FASTLAYERS_CHROMIUM)")
    b = Browser(binary)
    try:
        b.send("Page.navigate", url=f"http://127.0.0.1:{server.server_port}/")
        b.wait_for("window.playground && window.playground.frames > 0", 30)
        b.click('[data-dataset="spiral"]')
        b.click('#features input[value="sin(x1)"]')
        b.click('#features input[value="sin(x2)"]')
        b.click("#add_layer")
        b.wait_for("playground.frame.layers.join() === '4,4,2,2' && playground.data.params.dataset === 'spiral'", 30)
        before = b.evaluate("[playground.frame.output, playground.frame.test_loss]")
        b.click("#play")
        b.wait_for("Number(document.getElementById('epoch').textContent) >= 120", 120)
        after = b.evaluate("[playground.frame.output, playground.frame.test_loss]")
        assert after[0] != before[0] and after[1] < before[1], (before[1], after[1])
        assert b.evaluate("document.getElementById('error').hidden")
        shot = b.screenshot()
        (tmp_path / "playground.png").write_bytes(shot)
        if os.environ.get("FASTLAYERS_PLAYGROUND_SCREENSHOT"):
            with open(os.environ["FASTLAYERS_PLAYGROUND_SCREENSHOT"], "wb") as fh:
                fh.write(shot)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"
        b.evaluate("(() => { const e = document.getElementById('learning_rate'); e.value = 'abc';"
                   " e.dispatchEvent(new Event('change')); })()")
        msg = b.wait_for("!document.getElementById('error').hidden && document.getElementById('error').textContent", 20)
        assert "learning_rate" in msg and "abc" in msg
        assert request(server, "GET", "/")[0] == 200
        assert len(server.sessions) == 1
        b.send("Page.navigate", url="about:blank")  # the tab leaves: its session ends
        assert wait_until(lambda: not server.sessions, timeout=10)
    finally:
        b.close()
