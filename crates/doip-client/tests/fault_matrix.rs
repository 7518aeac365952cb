//! The fault matrix: every fault the simulator can inject × every client operation. Each cell
//! must end within its deadline with success or a typed error — never hang, never panic —
//! and, with `auto_reconnect_tcp`, resume where the fault allows. After each cell the same
//! entity must still serve a clean tester. The matrix is printed as a table.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::fmt::Write as _;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use doip_client::{Client, ClientBuilder, Error};
use doip_proto::LogicalAddress;
use doip_sim::{Faults, SimConfig, SimHandle, Simulator, TlsFiles};

const ENGINE: LogicalAddress = LogicalAddress(0x4011);
const FUNCTIONAL: LogicalAddress = LogicalAddress(0xE400);
/// No cell may take longer than this.
const DEADLINE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// The operation must succeed (the fault is benign, or reconnecting resumes it).
    Ok,
    /// The operation must fail with a typed error.
    Err,
    /// Either, depending on a race the client cannot see (the entity's close crossing the
    /// next request): success when it saw the close first and reconnected, else
    /// [`Error::MaybeDelivered`] — never a silent resend.
    OkOrMaybeDelivered,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Activate,
    Diagnostic,
    Functional,
    Flash,
}

const OPS: [Op; 4] = [Op::Activate, Op::Diagnostic, Op::Functional, Op::Flash];

struct Row {
    name: &'static str,
    faults: Faults,
    tls: bool,
    expect: [Expect; 4],
}

fn rows() -> Vec<Row> {
    use Expect::{Err as E, Ok as O, OkOrMaybeDelivered as M};
    let f = Faults::default;
    vec![
        Row { name: "no fault", faults: f(), tls: false, expect: [O, O, O, O] },
        Row {
            name: "ACK delayed 200 ms",
            faults: Faults { ack_delay_ms: 200, ..f() },
            tls: false,
            expect: [O, O, O, O],
        },
        // The answer proves delivery: kept until the ACK timeout, then taken without an ACK
        // (slow: every request waits out the ACK timeout).
        Row {
            name: "ACK dropped",
            faults: Faults { drop_ack: true, ..f() },
            tls: false,
            expect: [O, O, O, O],
        },
        Row {
            name: "response delayed 200 ms",
            faults: Faults { response_delay_ms: 200, ..f() },
            tls: false,
            expect: [O, O, O, O],
        },
        Row {
            name: "response dropped",
            faults: Faults { drop_response: true, ..f() },
            tls: false,
            expect: [O, E, E, E],
        },
        Row {
            name: "close after 3 messages",
            faults: Faults { close_after_messages: Some(3), ..f() },
            tls: false,
            expect: [O, O, O, M],
        },
        Row {
            name: "1-byte segments",
            faults: Faults { one_byte_segments: true, ..f() },
            tls: false,
            expect: [O, O, O, O],
        },
        Row {
            name: "alive checks every 20 ms",
            faults: Faults { alive_check_interval_ms: Some(20), ..f() },
            tls: false,
            expect: [O, O, O, O],
        },
        Row {
            name: "malformed header",
            faults: Faults { malformed_header: true, ..f() },
            tls: false,
            expect: [O, E, E, E],
        },
        Row {
            name: "4 GiB length",
            faults: Faults { hostile_length: true, ..f() },
            tls: false,
            expect: [O, E, E, E],
        },
        Row {
            name: "ECU reset mid-download",
            faults: Faults { reset_after_messages: Some(8), ..f() },
            tls: false,
            expect: [O, O, O, E],
        },
        // Every third message the entity drops the TLS connection without close_notify and
        // without sending its answer. Auto-reconnect resumes; a repeated TransferData block is
        // acknowledged without being written twice, but the lost answer to the final
        // RequestTransferExit cannot be recovered by retrying it (the ECU has closed the
        // download: 7F 37 24) — a typed failure, never a silent one.
        Row {
            name: "TLS closed w/o close_notify",
            faults: Faults { close_after_messages: Some(3), abrupt_close: true, ..f() },
            tls: true,
            expect: [O, O, O, E],
        },
        Row {
            name: "peer stops reading",
            faults: Faults { stop_reading: true, ..f() },
            tls: false,
            expect: [O, E, E, E],
        },
    ]
}

/// A self-signed certificate for the TLS rows, and a client trusting exactly it.
struct Pki {
    files: TlsFiles,
    client: doip_transport::TlsClient,
}

fn pki() -> Pki {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["ecu.doip.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("doip-fault-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let mut roots = doip_transport::rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    Pki {
        files: TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem"), port: 0 },
        client: doip_transport::TlsClient {
            config: Arc::new(doip_transport::tls::client_config(roots).unwrap()),
            server_name: doip_transport::tls::server_name("ecu.doip.test").unwrap(),
        },
    }
}

fn builder(sim: &SimHandle, tls: Option<&doip_transport::TlsClient>) -> ClientBuilder {
    let b = ClientBuilder::new(sim.tcp.ip(), ENGINE)
        .udp_port(sim.udp.port())
        .auto_reconnect_tcp(true)
        .connect_timeout(Duration::from_secs(2))
        .ack_timeout(Duration::from_millis(500))
        .uds_timing(Duration::from_millis(500), Duration::from_secs(1));
    match (tls, sim.tls) {
        (Some(tls), Some(addr)) => b.tcp_port(addr.port()).tls(tls.clone()),
        _ => b.tcp_port(sim.tcp.port()),
    }
}

/// A failure, typed: the error's variant, or the UDS negative answer.
#[derive(Debug)]
enum Failure {
    Client(Error),
    Negative(Vec<u8>),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Client(e)
    }
}

fn kind(f: &Failure) -> String {
    match f {
        Failure::Negative(a) => format!("UDS {a:02X?}"),
        Failure::Client(Error::Transport(t)) => {
            let debug = format!("{t:?}");
            debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
        }
        Failure::Client(e) => {
            let debug = format!("{e:?}");
            debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
        }
    }
}

fn positive(request: &[u8], answer: Vec<u8>) -> Result<Vec<u8>, Failure> {
    if answer.first() == request.first().map(|s| s + 0x40).as_ref() {
        Ok(answer)
    } else {
        Err(Failure::Negative(answer))
    }
}

fn flash(client: &mut Client) -> Result<(), Failure> {
    let image: Vec<u8> = (0..16 * 4093u32).map(|i| (i * 7 + 3) as u8).collect();
    let size = u32::try_from(image.len()).unwrap().to_be_bytes();
    let request = [&[0x34, 0x00, 0x44, 0, 0, 0, 0][..], &size].concat();
    positive(&request, client.request(ENGINE, &request)?)?;
    for (i, block) in image.chunks(4093).enumerate() {
        let transfer = [&[0x36, (i + 1) as u8][..], block].concat();
        positive(&transfer, client.request(ENGINE, &transfer)?)?;
    }
    let exit = positive(&[0x37], client.request(ENGINE, &[0x37])?)?;
    assert_eq!(exit[1..5], crc32fast::hash(&image).to_be_bytes(), "CRC of the download");
    Ok(())
}

fn run(op: Op, b: ClientBuilder) -> Result<(), Failure> {
    let mut client = b.connect()?;
    match op {
        Op::Activate => {}
        Op::Diagnostic => {
            positive(&[0x22], client.request(ENGINE, &[0x22, 0xF1, 0x90])?)?;
        }
        Op::Functional => {
            let answers =
                client.functional_request(FUNCTIONAL, &[0x3E, 0x00], Duration::from_millis(500))?;
            if answers.len() != 3 {
                return Err(Error::Timeout {
                    peer: client.peer(),
                    what: "all three functional answers",
                }
                .into());
            }
        }
        Op::Flash => flash(&mut client)?,
    }
    Ok(())
}

/// Runs one cell on a fresh entity; `(passed, text)`.
fn cell(row: &Row, op: Op, expect: Expect, pki: &Pki) -> (bool, String) {
    let mut config = SimConfig::for_tests();
    config.faults = row.faults.clone();
    if row.tls {
        config.tls = Some(pki.files.clone());
    }
    let sim = Simulator::new(&config).unwrap().spawn().unwrap();
    let b = builder(&sim, row.tls.then_some(&pki.client));
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        // A panic drops `tx` without sending: the receiver tells it from a hang.
        let _ = tx.send(run(op, b));
    });
    let (passed, text) = match rx.recv_timeout(DEADLINE) {
        Err(mpsc::RecvTimeoutError::Timeout) => (false, "HUNG".to_owned()),
        Err(mpsc::RecvTimeoutError::Disconnected) => (false, "PANIC".to_owned()),
        Ok(Ok(())) => (expect != Expect::Err, "ok".to_owned()),
        Ok(Err(f)) => {
            let maybe = matches!(f, Failure::Client(Error::MaybeDelivered { .. }));
            (expect == Expect::Err || (expect == Expect::OkOrMaybeDelivered && maybe), kind(&f))
        }
    };
    let took = started.elapsed();
    // The entity serves a clean tester afterwards.
    sim.set_faults(None, Faults::default());
    let healthy = builder(&sim, row.tls.then_some(&pki.client))
        .auto_reconnect_tcp(false)
        .connect()
        .and_then(|mut c| c.request(ENGINE, &[0x3E, 0x00]))
        .is_ok_and(|a| a == [0x7E, 0x00]);
    let _ = sim.stop();
    let mark = if passed && healthy { "" } else { " FAIL" };
    let sick = if healthy { "" } else { " (entity unhealthy after)" };
    (passed && healthy, format!("{text} {:.2}s{sick}{mark}", took.as_secs_f64()))
}

#[test]
fn every_fault_times_every_operation_ends_typed_and_in_time() {
    let pki = pki();
    let rows = rows();
    let mut table = vec![format!(
        "{:<30}| {:<26}| {:<26}| {:<26}| {:<26}",
        "fault \\ operation",
        "activate",
        "send/receive diagnostic",
        "functional request",
        "flash download (64 KiB)"
    )];
    let mut failures = 0;
    for row in &rows {
        let mut line = format!("{:<30}", row.name);
        for (op, expect) in OPS.iter().zip(row.expect) {
            let (passed, text) = cell(row, *op, expect, &pki);
            failures += usize::from(!passed);
            let want = if expect == Expect::Ok { "" } else { "err: " };
            let _ = write!(line, "| {:<26}", format!("{want}{text}"));
        }
        table.push(line);
    }
    println!("\n{}\n", table.join("\n"));
    let _ = std::fs::remove_dir_all(pki.files.cert.parent().unwrap());
    assert_eq!(failures, 0, "{failures} cells failed:\n{}", table.join("\n"));
}

/// A peer that stops reading: sends that do not wait for answers fill the socket buffers and
/// then the bounded send queue, and the next send fails with `QueueFull` — promptly, with
/// memory bounded by the queue limit, instead of blocking or growing.
#[test]
fn writes_to_a_peer_that_stopped_reading_fail_typed_when_the_queue_is_full() {
    let mut config = SimConfig::for_tests();
    config.faults.stop_reading = true;
    let sim = Simulator::new(&config).unwrap().spawn().unwrap();
    let mut client = builder(&sim, None).auto_reconnect_tcp(false).connect().unwrap();
    let block = [&[0x36, 0x01][..], &[0x55; 4093]].concat();
    let message = doip_proto::DiagnosticMessage::new(LogicalAddress(0x0E00), ENGINE, &block[..]);
    let started = Instant::now();
    let mut sent = 0usize;
    let error = loop {
        match client.send_doip_message(
            &message.clone().into(),
            doip_client::TransportKind::Tcp,
            false,
        ) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(started.elapsed() < DEADLINE, "still sending after {sent} messages");
    };
    println!("peer stopped reading: {sent} messages of 4 KiB accepted, then: {error}");
    assert!(
        matches!(error, Error::Transport(doip_transport::Error::QueueFull { .. })),
        "{error:?}"
    );
    let _ = sim.stop();
}
