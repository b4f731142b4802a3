"""The on-disk message spool: order, bounds (oldest dropped, counted), survival across a restart."""
from __future__ import annotations

import pytest

from fer_edge.spool import Spool, SpoolError
from command import FER_EDGE


def test_messages_come_out_in_order_and_survive_a_restart(tmp_path):
    s = Spool(tmp_path / "q" / "spool.sqlite")
    for i in range(5):
        s.append(f"t/{i}", f"m{i}".encode(), retain=i == 0)
    rows = s.peek(limit=3)
    assert [(t, p, r) for _, t, p, r in rows] == [("t/0", b"m0", True), ("t/1", b"m1", False), ("t/2", b"m2", False)]
    assert [r[1] for r in s.peek(after_id=rows[-1][0])] == ["t/3", "t/4"]
    s.remove(rows[1][0])
    s.close()
    again = Spool(tmp_path / "q" / "spool.sqlite")  # a killed camera's messages are still there at its next start
    assert len(again) == 4 and [p for _, _, p, _ in again.peek()] == [b"m0", b"m2", b"m3", b"m4"]
    assert again.size_bytes == 8


def test_past_its_bounds_the_oldest_go_and_are_counted(tmp_path):
    s = Spool(":memory:", max_messages=10, max_bytes=1000)
    for i in range(25):
        s.append("t", str(i).encode())
    assert len(s) == 10 and s.dropped == 15 and [int(p) for _, _, p, _ in s.peek(limit=100)] == list(range(15, 25))
    b = Spool(":memory:", max_messages=100, max_bytes=250)
    for i in range(10):
        b.append("t", bytes([i]) * 100)
    assert len(b) == 2 and b.size_bytes == 200 and b.dropped == 8
    assert [p[0] for _, _, p, _ in b.peek()] == [8, 9]
    b.append("t", b"x" * 400)  # one message larger than the bound is still kept, alone
    assert len(b) == 1 and b.size_bytes == 400


def test_a_file_that_is_not_a_spool_is_refused_untouched(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("not a database\n" * 100)
    with pytest.raises(SpoolError, match="cannot be used as the message spool"):
        Spool(f)
    assert f.read_text() == "not a database\n" * 100
    with pytest.raises(ValueError):
        Spool(":memory:", max_messages=0)


def test_camera_with_a_spool_path_that_is_not_one_is_one_line_and_exit_2(tmp_path):
    import subprocess

    pytest.importorskip("paho.mqtt.client", reason="the mqtt extra (paho-mqtt) is not installed")
    f = tmp_path / "notes.txt"
    f.write_text("mine\n")
    r = subprocess.run([*FER_EDGE, "camera", "--source", str(tmp_path / "none.avi"),
                        "--mqtt", "mqtt://127.0.0.1:1", "--mqtt-spool", str(f)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.splitlines() == [
        f"error: {f}: cannot be used as the message spool (file is not a database)"], r.stderr
    assert f.read_text() == "mine\n"
