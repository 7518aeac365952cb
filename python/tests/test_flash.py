"""DoIPClient.flash: the Rust flasher programming the simulator's engine ECU (session,
SecurityAccess with the XOR key or a Python key function, erase, download, CRC check,
reset), read back with ReadMemoryByAddress and RequestUpload; failures name their step."""

import os
import time

import pytest

import doip_rs

from conftest import ENGINE, XOR_KEY, Background, connect, xor_key

ADDRESS = 0x00100000
STEPS = ["DiagnosticSessionControl", "SecurityAccess", "erase routine", "download", "check routine", "ECUReset"]


def read_memory(client, address, size, chunk=4000):
    """ReadMemoryByAddress (23 44), in answers the ECU allows."""
    data = bytearray()
    for offset in range(0, size, chunk):
        n = min(chunk, size - offset)
        answer = client.request(b"\x23\x44" + (address + offset).to_bytes(4, "big") + n.to_bytes(4, "big"))
        assert answer[:1] == b"\x63", answer[:3]
        data += answer[1:]
    return bytes(data)


def upload(client, address, size):
    """RequestUpload (35), TransferData (36) until done, RequestTransferExit (37)."""
    answer = client.request(b"\x35\x00\x44" + address.to_bytes(4, "big") + size.to_bytes(4, "big"))
    assert answer[:1] == b"\x75", answer
    data = bytearray()
    counter = 1
    for _ in range(size // 16 + 2):  # bounded: far more blocks than any block size needs
        if len(data) >= size:
            break
        block = client.request(bytes([0x36, counter & 0xFF]))
        assert block[:2] == bytes([0x76, counter & 0xFF]), block[:3]
        data += block[2:]
        counter += 1
    assert client.request(b"\x37")[:1] == b"\x77"
    return bytes(data)


@pytest.fixture
def image():
    return os.urandom(10_000)


def test_flash_with_the_xor_key_then_read_back(client, image):
    events = []
    report = client.flash(image, address=ADDRESS, target=ENGINE, security_level=1,
                          security_key=XOR_KEY, progress=events.append)
    assert report["bytes"] == len(image)
    assert report["segments"] == 1
    assert report["max_block_length"] == 4095
    assert report["blocks"] == -(-len(image) // 4093)  # 4093 data bytes per TransferData
    assert report["elapsed"] >= 0
    # The progress callback saw every step in order, and the bytes grow to the total.
    steps = [e["step"] for e in events]
    assert [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s] == STEPS
    done = [e["bytes_done"] for e in events]
    assert done == sorted(done) and done[-1] == len(image)
    assert all(e["bytes_total"] == len(image) and e["segments"] == 1 for e in events)
    assert set(events[0]) == {"step", "segment", "segments", "bytes_done", "bytes_total", "elapsed"}
    # The flash ended with a hard reset: the entity dropped the connection.
    with pytest.raises(ConnectionError):
        client.request(b"\x3e\x00")
    client.reconnect(close_delay=0.5)
    assert read_memory(client, ADDRESS, len(image)) == image
    assert upload(client, ADDRESS, len(image)) == image


def test_flash_with_a_python_key_function(client, image):
    calls = []

    def key(level, seed):
        calls.append((level, bytes(seed)))
        return xor_key(seed)

    report = client.flash(image, address=ADDRESS + 0x10000, security_level=1, security_key=key, reset=False)
    assert report["bytes"] == len(image)
    assert len(calls) == 1 and calls[0][0] == 1 and len(calls[0][1]) == 4
    # No reset: the same connection reads it back.
    assert read_memory(client, ADDRESS + 0x10000, len(image)) == image


def test_flash_from_a_file(client, tmp_path, image):
    path = tmp_path / "app.bin"
    path.write_bytes(image)
    client.flash(path, format="bin", address=ADDRESS, security_level=1, security_key=XOR_KEY, reset=False)
    client.flash(str(path), format="bin", address=ADDRESS + 0x8000, reset=False)  # no SecurityAccess step
    assert read_memory(client, ADDRESS, len(image)) == image
    assert read_memory(client, ADDRESS + 0x8000, len(image)) == image


def test_a_wrong_key_stops_at_security_access(client, image):
    start = time.monotonic()
    with pytest.raises(doip_rs.FlashError) as failed:
        client.flash(image, address=ADDRESS, security_level=1, security_key=0x12345678, reset=False)
    assert time.monotonic() - start < 10
    e = failed.value
    assert isinstance(e, doip_rs.UdsError) and isinstance(e, OSError)
    assert e.step == "SecurityAccess"
    assert e.nrc == 0x35  # invalidKey
    assert isinstance(e.__cause__, doip_rs.NegativeResponseError)
    assert (e.__cause__.service, e.__cause__.nrc) == (0x27, 0x35)
    # Nothing was written.
    assert read_memory(client, ADDRESS, 64) == b"\xff" * 64


def test_a_failing_key_function_stops_at_security_access(client, image):
    def key(level, seed):
        raise ZeroDivisionError("no key today")

    with pytest.raises(doip_rs.FlashError) as failed:
        client.flash(image, address=ADDRESS, security_level=1, security_key=key, reset=False)
    assert failed.value.step == "SecurityAccess"
    assert "no key today" in str(failed.value)


def test_a_refused_write_names_its_step_and_segment(make_sim, image):
    engine = {"name": "engine", "logical_address": "0x4011",
              "download_requires_session": 2, "download_requires_security": 1}
    sim = make_sim(ecus=[engine])
    with connect(sim) as c:
        with pytest.raises(doip_rs.FlashError) as failed:
            c.flash(image, address=ADDRESS, reset=False)  # no SecurityAccess
        assert (failed.value.step, failed.value.segment, failed.value.nrc) == ("erase routine", 0, 0x33)
        with pytest.raises(doip_rs.FlashError) as failed:
            c.flash(image, address=ADDRESS, erase_routine=None, reset=False)
        assert (failed.value.step, failed.value.segment, failed.value.nrc) == ("RequestDownload", 0, 0x33)
        # Unlocked, it goes through.
        c.flash(image, address=ADDRESS, security_level=1, security_key=XOR_KEY, reset=False)
        assert read_memory(c, ADDRESS, len(image)) == image


def test_flash_argument_errors(client):
    with pytest.raises(ValueError):
        client.flash(b"\x00" * 16)  # binary without an address
    with pytest.raises(ValueError):
        client.flash(b"\x00" * 16, address=ADDRESS, security_level=1)  # level without key
    with pytest.raises(ValueError):
        client.flash(b"\x00" * 16, address=ADDRESS, format="elf")
    assert client.request(b"\x3e\x00") == b"\x7e\x00"  # nothing was sent


def test_callbacks_cannot_reenter_the_client_and_nothing_deadlocks(client, image):
    seen = []

    def progress(event):
        if not seen:
            try:
                client.counters()
            except RuntimeError as e:  # the client is busy with this flash
                seen.append(e)

    closed_reads = []
    reader = Background(lambda: closed_reads.extend(client.closed for _ in range(200)))
    client.flash(image, address=ADDRESS, target=ENGINE, security_level=1, security_key=XOR_KEY,
                 progress=progress)
    reader.result(timeout=10)  # another thread read `closed` meanwhile, without blocking
    assert closed_reads == [False] * 200
    assert len(seen) == 1 and "busy flashing" in str(seen[0])


def test_an_int_key_out_of_range_is_refused_before_anything_is_sent(client, image):
    before = client.counters()["frames_sent"]
    with pytest.raises(ValueError):
        client.flash(image, address=ADDRESS, security_level=1, security_key=1 << 40)
    assert client.counters()["frames_sent"] == before
