"""DoIP over TLS from Python: ``use_secure`` with an ``ssl.SSLContext`` (its CA certificates,
verification mode and key-log file honoured) and ``True`` (the platform's roots), against the
simulator's TLS port with certificates made here by openssl."""

import os
import shutil
import ssl
import subprocess

import pytest

import doip_rs
from doip_rs import DoIPClient


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is needed to make the test certificates")
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=doip-rs test CA", cwd=d)
    _openssl("req", *ec, "-keyout", "ecu.key", "-out", "ecu.csr", "-subj", "/CN=ecu", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "ecu.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "ecu.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d


@pytest.fixture
def tls_sim(pki):
    tls = {"cert": str(pki / "ecu.pem"), "key": str(pki / "ecu.key"), "port": 0}
    with doip_rs.Simulator(tls=tls) as sim:
        yield sim


def test_a_context_with_the_ca_verifies_and_writes_the_key_log(tls_sim, pki, tmp_path):
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.keylog_filename = str(tmp_path / "keys.log")
    with DoIPClient("127.0.0.1", 0x4011, tcp_port=tls_sim.tls_port, use_secure=context) as client:
        assert client.request(b"\x22\xf1\x90") == b"\x62\xf1\x90" + tls_sim.vin.encode()
    keys = (tmp_path / "keys.log").read_text()
    assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keys or "CLIENT_RANDOM" in keys


def test_an_unverified_context_connects_to_any_certificate(tls_sim):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with DoIPClient("127.0.0.1", 0x4011, tcp_port=tls_sim.tls_port, use_secure=context) as client:
        assert client.request(b"\x3e\x00") == b"\x7e\x00"


def test_an_unknown_issuer_is_refused(tls_sim, tmp_path):
    # A context trusting only some other CA: the simulator's certificate must not pass.
    other = tmp_path / "other"
    other.mkdir()
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "o.key", "-out", "o.pem", "-days", "2", "-subj", "/CN=other",
             cwd=other)
    context = ssl.create_default_context(cafile=str(other / "o.pem"))
    with pytest.raises(OSError):
        DoIPClient("127.0.0.1", 0x4011, tcp_port=tls_sim.tls_port, use_secure=context)
    with pytest.raises(OSError):  # True: the platform's roots, which do not know the test CA
        DoIPClient("127.0.0.1", 0x4011, tcp_port=tls_sim.tls_port, use_secure=True)
