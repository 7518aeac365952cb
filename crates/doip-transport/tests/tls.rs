//! TLS with certificates generated in the test (rcgen): verification, key logging, closing.
#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use common::*;
use doip_transport::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use doip_transport::rustls::{CertificateError, RootCertStore};
use doip_transport::tls::{self, KeyLogFile};
use doip_transport::{ConnectOptions, Error, Event, EventLoop, ListenOptions, TlsClient};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

const NAME: &str = "ecu.doip.test";

struct Pki {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// A CA and an ECU certificate for [`NAME`] signed by it; every CA has its own name.
fn pki() -> Pki {
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let ca_name = format!("doip-rs test CA {}", SERIAL.fetch_add(1, Ordering::Relaxed));
    params.distinguished_name.push(DnType::CommonName, ca_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![NAME.to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
    Pki {
        ca: ca.der().clone(),
        chain: vec![leaf.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

fn roots(ca: &CertificateDer<'static>) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    roots
}

fn serve(lp: &mut EventLoop, pki: &Pki) -> SocketAddr {
    let config = tls::server_config(pki.chain.clone(), pki.key.clone_key()).unwrap();
    let l = lp
        .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default().tls(Arc::new(config)))
        .unwrap();
    lp.local_addr(l).unwrap()
}

fn client(config: doip_transport::rustls::ClientConfig) -> ConnectOptions {
    ConnectOptions::default()
        .tls(TlsClient { config: Arc::new(config), server_name: tls::server_name(NAME).unwrap() })
}

/// Runs a tester and a TLS entity on one loop; the tester's message reaches the entity.
fn exchange(config: doip_transport::rustls::ClientConfig) -> Result<(), Error> {
    let pki = pki();
    let mut lp = EventLoop::new().unwrap();
    let addr = serve(&mut lp, &pki);
    let tester = lp.connect(addr, client(config))?;
    lp.send(tester, &diag(TESTER, ECU, vec![0x22, 0xF1, 0x90]))?;
    let (event, _) = wait_for(&mut lp, deadline(10), |e| {
        matches!(e, Event::Message { .. })
            || matches!(e, Event::Disconnected { handle, .. } if *handle == tester)
    });
    match event {
        Event::Message { frame, .. } => {
            assert_eq!(user_data(&frame), [0x22, 0xF1, 0x90]);
            Ok(())
        }
        Event::Disconnected { error, .. } => Err(error),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn handshake_succeeds_with_the_right_root() {
    let pki = pki();
    let mut lp = EventLoop::new().unwrap();
    let addr = serve(&mut lp, &pki);
    let tester = lp.connect(addr, client(tls::client_config(roots(&pki.ca)).unwrap())).unwrap();
    wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Connected { .. }));
    lp.send(tester, &diag(TESTER, ECU, vec![0x10, 0x03])).unwrap();
    let (event, _) = wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Message { .. }));
    let Event::Message { handle: entity_side, frame } = event else { unreachable!() };
    assert_eq!(user_data(&frame), [0x10, 0x03]);
    // And back.
    lp.send(entity_side, &diag(ECU, TESTER, vec![0x50, 0x03])).unwrap();
    let (event, _) = wait_for(
        &mut lp,
        deadline(10),
        |e| matches!(e, Event::Message { handle, .. } if *handle == tester),
    );
    let Event::Message { frame, .. } = event else { unreachable!() };
    assert_eq!(user_data(&frame), [0x50, 0x03]);
    // Our close sends close_notify: the entity sees a clean close, not a truncation.
    lp.close(tester);
    let (event, _) = wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Disconnected { .. }));
    assert!(
        matches!(event, Event::Disconnected { error: Error::ClosedByPeer { .. }, .. }),
        "{event:?}"
    );
}

#[test]
fn a_wrong_root_fails_with_a_certificate_error() {
    let other_ca = pki().ca;
    match exchange(tls::client_config(roots(&other_ca)).unwrap()) {
        Err(Error::Tls { source: doip_transport::rustls::Error::InvalidCertificate(e), peer }) => {
            assert_eq!(e, CertificateError::UnknownIssuer);
            assert_eq!(peer.ip().to_string(), "127.0.0.1");
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[test]
fn the_test_bench_opt_in_accepts_an_unknown_certificate() {
    exchange(tls::insecure_test_bench_client_config().unwrap()).unwrap();
}

#[test]
fn key_log_is_written_when_enabled() {
    let dir = std::env::temp_dir().join(format!("doip-keylog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keys.log");
    let _ = std::fs::remove_file(&path);
    let pki = pki();
    let mut config = tls::client_config(roots(&pki.ca)).unwrap();
    config.key_log = Arc::new(KeyLogFile::new(&path));
    let mut lp = EventLoop::new().unwrap();
    let addr = serve(&mut lp, &pki);
    lp.connect(addr, client(config)).unwrap();
    wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Connected { .. }));
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(log.lines().any(|l| l.starts_with("CLIENT_HANDSHAKE_TRAFFIC_SECRET ")), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run in a child process with `SSLKEYLOGFILE` set: the default config must ignore it.
#[test]
fn key_log_is_not_written_by_default_even_with_sslkeylogfile_set() {
    if let Some(path) = std::env::var_os("DOIP_KEYLOG_CHILD") {
        assert_eq!(std::env::var_os("SSLKEYLOGFILE"), Some(path));
        let pki = pki();
        let mut lp = EventLoop::new().unwrap();
        let addr = serve(&mut lp, &pki);
        lp.connect(addr, client(tls::client_config(roots(&pki.ca)).unwrap())).unwrap();
        wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Connected { .. }));
        return;
    }
    let path = std::env::temp_dir().join(format!("doip-keylog-default-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "key_log_is_not_written_by_default_even_with_sslkeylogfile_set"])
        .env("DOIP_KEYLOG_CHILD", &path)
        .env("SSLKEYLOGFILE", &path)
        .output()
        .unwrap();
    assert!(child.status.success(), "the child handshake failed: {child:?}");
    assert!(!path.exists(), "a key log was written without being enabled");
}

#[test]
fn a_close_without_close_notify_is_reported_as_truncation() {
    let pki = pki();
    let config = Arc::new(tls::server_config(pki.chain.clone(), pki.key.clone_key()).unwrap());
    let (l, addr) = listener();
    let peer = thread::spawn(move || {
        let (tcp, _) = l.accept().unwrap();
        let conn = doip_transport::rustls::ServerConnection::new(config).unwrap();
        let mut stream = doip_transport::rustls::StreamOwned::new(conn, tcp);
        let bytes = bytes(&diag(ECU, TESTER, vec![0x7E, 0x00]));
        std::io::Write::write_all(&mut stream, &bytes).unwrap();
        std::io::Write::flush(&mut stream).unwrap();
        // Drop the TCP socket without close_notify.
        stream.sock.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let mut lp = EventLoop::new().unwrap();
    let tester = lp.connect(addr, client(tls::client_config(roots(&pki.ca)).unwrap())).unwrap();
    let (event, _) = wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Message { .. }));
    assert!(matches!(event, Event::Message { handle, .. } if handle == tester));
    let (event, _) = wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Disconnected { .. }));
    assert!(
        matches!(event, Event::Disconnected { error: Error::TlsTruncated { .. }, .. }),
        "{event:?}"
    );
    peer.join().unwrap();
}

#[test]
fn the_connect_timeout_covers_a_silent_tls_handshake() {
    let (l, addr) = listener();
    let pki = pki();
    let silent = thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        thread::sleep(std::time::Duration::from_millis(800));
        drop(s);
    });
    let mut t = doip_transport::Blocking::new().unwrap();
    let options = client(tls::client_config(roots(&pki.ca)).unwrap())
        .connect_timeout(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    match t.connect(addr, options) {
        Err(Error::Timeout { peer, what, .. }) => {
            assert_eq!(peer, addr);
            assert_eq!(what, "connection");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_millis(700));
    silent.join().unwrap();
}

/// Reads one DoIP frame's user data from a blocking TLS stream.
fn read_tls_frame(stream: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 8];
    stream.read_exact(&mut head)?;
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let mut all = head.to_vec();
    all.resize(8 + len, 0);
    stream.read_exact(&mut all[8..])?;
    Ok(user_data(&doip_proto::Frame::parse(&all).unwrap().0))
}

type ServerStream = doip_transport::rustls::StreamOwned<
    doip_transport::rustls::ServerConnection,
    std::net::TcpStream,
>;

/// The server side of a TLS handshake on a blocking socket (5 s read timeout).
fn tls_server_handshake(
    config: &Arc<doip_transport::rustls::ServerConfig>,
    tcp: std::net::TcpStream,
) -> std::io::Result<ServerStream> {
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let conn = doip_transport::rustls::ServerConnection::new(config.clone())
        .map_err(std::io::Error::other)?;
    let mut stream = doip_transport::rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// Connect timers belong to one dial: a connection that reconnects twice is not failed by
/// the timer of the first reconnect's dial firing while the second reconnect's TLS
/// handshake is still running (both reconnects are "attempt 1", since the count restarts
/// after a success).
#[test]
fn a_stale_connect_timer_does_not_fail_a_later_reconnect() {
    use std::time::{Duration, Instant};
    const TIMEOUT: Duration = Duration::from_millis(1500);
    const DELAY: Duration = Duration::from_millis(700);
    let pki = pki();
    let config = Arc::new(tls::server_config(pki.chain.clone(), pki.key.clone_key()).unwrap());
    let (l, addr) = listener();
    let peer = thread::spawn(move || -> std::io::Result<()> {
        // First connection and first reconnect: handshake, then close.
        let mut second_accepted = Instant::now();
        for _ in 0..2 {
            let (tcp, _) = l.accept()?;
            second_accepted = Instant::now();
            let mut stream = tls_server_handshake(&config, tcp)?;
            stream.conn.send_close_notify();
            stream.conn.complete_io(&mut stream.sock)?;
        }
        // Second reconnect: stay silent until the first reconnect's timer has expired
        // (its dial came before `second_accepted`), then handshake well within this
        // dial's own timeout (this dial came at least DELAY after `second_accepted`).
        let (tcp, _) = l.accept()?;
        let silent_until = second_accepted + TIMEOUT + Duration::from_millis(200);
        thread::sleep(silent_until.saturating_duration_since(Instant::now()));
        let mut stream = tls_server_handshake(&config, tcp)?;
        assert_eq!(read_tls_frame(&mut stream)?, [1], "the reconnected tester's message");
        Ok(())
    });
    let mut lp = EventLoop::new().unwrap();
    let options =
        client(tls::client_config(roots(&pki.ca)).unwrap()).connect_timeout(TIMEOUT).reconnect(
            doip_transport::ReconnectPolicy { attempts: 5, delay: DELAY, ..Default::default() },
        );
    let h = lp.connect(addr, options).unwrap();
    let mut seen = Vec::new();
    let until = deadline(20);
    while seen.iter().filter(|e| matches!(e, Event::Reconnected { .. })).count() < 2 {
        assert!(Instant::now() < until, "events so far: {seen:?}");
        lp.poll(Some(Duration::from_millis(100))).unwrap();
        while let Some(e) = lp.next_event() {
            assert!(
                !matches!(e, Event::Disconnected { error: Error::Timeout { .. }, .. }),
                "a stale timer failed a dial: {e:?} after {seen:?}"
            );
            seen.push(e);
        }
    }
    lp.send(h, &diag(TESTER, ECU, vec![1])).unwrap();
    lp.resume(h).unwrap();
    let until = deadline(10);
    while !peer.is_finished() {
        assert!(Instant::now() < until, "the peer is still waiting");
        lp.poll(Some(Duration::from_millis(50))).unwrap();
        while lp.next_event().is_some() {}
    }
    peer.join().unwrap().unwrap();
}
/// A message an entity sends on an accepted TLS connection before its handshake is done is
/// written once the handshake completes (it is neither held like a reconnect's messages nor
/// left waiting for a writability edge).
#[test]
fn a_message_sent_during_an_accepted_handshake_is_written_after_it() {
    let pki = pki();
    let mut lp = EventLoop::new().unwrap();
    let addr = serve(&mut lp, &pki);
    let ca = pki.ca.clone();
    let client = thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let tcp = std::net::TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        let config = Arc::new(tls::client_config(roots(&ca)).unwrap());
        let conn =
            doip_transport::rustls::ClientConnection::new(config, tls::server_name(NAME).unwrap())
                .unwrap();
        let mut stream = doip_transport::rustls::StreamOwned::new(conn, tcp);
        read_tls_frame(&mut stream)
    });
    let (event, _) = wait_for(&mut lp, deadline(10), |e| matches!(e, Event::Accepted { .. }));
    let Event::Accepted { handle, .. } = event else { unreachable!() };
    lp.send(handle, &diag(ECU, TESTER, vec![0x7E, 0x00])).unwrap();
    let until = deadline(10);
    while !client.is_finished() {
        assert!(std::time::Instant::now() < until, "the client is still waiting");
        lp.poll(Some(std::time::Duration::from_millis(50))).unwrap();
        while lp.next_event().is_some() {}
    }
    assert_eq!(client.join().unwrap().unwrap(), [0x7E, 0x00]);
}

/// Messages larger than rustls' send buffer (64 KiB) are written whole in both directions,
/// also when the socket never reports `WouldBlock` in between.
#[test]
fn a_megabyte_travels_both_ways_over_tls() {
    let pki = pki();
    let mut lp = EventLoop::new().unwrap();
    let addr = serve(&mut lp, &pki);
    let tester = lp.connect(addr, client(tls::client_config(roots(&pki.ca)).unwrap())).unwrap();
    let big = vec![0xA5; 1 << 20];
    lp.send(tester, &diag(TESTER, ECU, big.clone())).unwrap();
    let (event, _) = wait_for(&mut lp, deadline(20), |e| matches!(e, Event::Message { .. }));
    let Event::Message { handle: entity, frame } = event else { unreachable!() };
    assert_eq!(user_data(&frame).len(), big.len());
    lp.send(entity, &diag(ECU, TESTER, big.clone())).unwrap();
    let (event, _) = wait_for(
        &mut lp,
        deadline(20),
        |e| matches!(e, Event::Message { handle, .. } if *handle == tester),
    );
    let Event::Message { frame, .. } = event else { unreachable!() };
    assert_eq!(user_data(&frame).len(), big.len());
}
