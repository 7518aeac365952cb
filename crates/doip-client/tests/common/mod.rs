//! A scripted DoIP entity on raw std sockets, for the tester's integration tests. Unlike
//! doip-sim it does exactly what a test's script says — late, stale or foreign answers,
//! NACKs for other ECUs, odd activations, dropped connections — and records every frame the
//! tester sent, so a test can assert both the tester's result and what reached the entity.
//!
//! Every wait is bounded: reads use short read timeouts inside [`PATIENCE`], accepting gives
//! up after [`PATIENCE`], repeats have a count.
#![allow(dead_code, clippy::unwrap_used)] // shared by several test files; test code fails loudly

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The tester's logical address (the client's default).
pub(crate) const TESTER: u16 = 0x0E00;
/// The entity's own logical address.
pub(crate) const GATEWAY: u16 = 0x4010;
/// The ECU the tests address.
pub(crate) const ECU: u16 = 0x4011;
/// A second ECU behind the same entity.
pub(crate) const ECU2: u16 = 0x4012;
/// The VIN the entity reports.
pub(crate) const VIN: &[u8; 17] = b"WDOIPRS0000000001";

/// The longest the entity waits for anything (a frame, a connection).
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Payload types (PROTOCOL.md §2).
pub(crate) mod pt {
    pub(crate) const ENTITY_STATUS_RESPONSE: u16 = 0x4002;
    pub(crate) const ANNOUNCEMENT: u16 = 0x0004;
    pub(crate) const ACTIVATION_REQUEST: u16 = 0x0005;
    pub(crate) const ACTIVATION_RESPONSE: u16 = 0x0006;
    pub(crate) const ALIVE_CHECK_REQUEST: u16 = 0x0007;
    pub(crate) const ALIVE_CHECK_RESPONSE: u16 = 0x0008;
    pub(crate) const DIAGNOSTIC: u16 = 0x8001;
    pub(crate) const ACK: u16 = 0x8002;
    pub(crate) const NACK: u16 = 0x8003;
}

// ---------------------------------------------------------------------------------------------
// Frames the entity sends (version 0x02).

/// A DoIP frame: header (version 0x02) and payload.
pub(crate) fn frame(payload_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0xFD];
    f.extend(payload_type.to_be_bytes());
    f.extend((payload.len() as u32).to_be_bytes());
    f.extend(payload);
    f
}

/// A routing activation response naming `tester`, from the gateway, with `code`.
pub(crate) fn activation_response(tester: u16, code: u8) -> Vec<u8> {
    let mut p = tester.to_be_bytes().to_vec();
    p.extend(GATEWAY.to_be_bytes());
    p.push(code);
    p.extend([0; 4]);
    frame(pt::ACTIVATION_RESPONSE, &p)
}

/// A diagnostic message (a UDS answer) from `source` to `target`.
pub(crate) fn uds(source: u16, target: u16, data: &[u8]) -> Vec<u8> {
    let mut p = source.to_be_bytes().to_vec();
    p.extend(target.to_be_bytes());
    p.extend(data);
    frame(pt::DIAGNOSTIC, &p)
}

/// A diagnostic positive ACK (code 0x00) from `source` to `target`, copying `previous`.
pub(crate) fn ack(source: u16, target: u16, previous: &[u8]) -> Vec<u8> {
    acknowledgement(pt::ACK, source, target, 0x00, previous)
}

/// A diagnostic NACK with `code` from `source` to `target`, copying `previous`.
pub(crate) fn nack(source: u16, target: u16, code: u8, previous: &[u8]) -> Vec<u8> {
    acknowledgement(pt::NACK, source, target, code, previous)
}

fn acknowledgement(kind: u16, source: u16, target: u16, code: u8, previous: &[u8]) -> Vec<u8> {
    let mut p = source.to_be_bytes().to_vec();
    p.extend(target.to_be_bytes());
    p.push(code);
    p.extend(previous);
    frame(kind, &p)
}

/// An alive check request (`02 FD 00 07 00 00 00 00`).
pub(crate) fn alive_check_request() -> Vec<u8> {
    frame(pt::ALIVE_CHECK_REQUEST, &[])
}

/// A vehicle announcement: [`VIN`], logical address `address`, EID = GID = 00:1a:37:bf:ee:74,
/// no further action, no sync status (32 bytes).
pub(crate) fn announcement(address: u16) -> Vec<u8> {
    let mut p = VIN.to_vec();
    p.extend(address.to_be_bytes());
    p.extend([0x00, 0x1a, 0x37, 0xbf, 0xee, 0x74]);
    p.extend([0x00, 0x1a, 0x37, 0xbf, 0xee, 0x74]);
    p.push(0x00);
    frame(pt::ANNOUNCEMENT, &p)
}

/// An entity status response: gateway, 1 socket max, 1 open, max data size 4095.
pub(crate) fn entity_status() -> Vec<u8> {
    frame(pt::ENTITY_STATUS_RESPONSE, &[0x00, 0x01, 0x01, 0x00, 0x00, 0x0F, 0xFF])
}

/// `62 F1 90` + [`VIN`].
pub(crate) fn vin_answer() -> Vec<u8> {
    [&[0x62, 0xF1, 0x90][..], VIN].concat()
}

// ---------------------------------------------------------------------------------------------
// The simulator, for tests against a well-behaved entity.

/// A doip-sim entity of `config` on its own thread.
pub(crate) fn start(config: &doip_sim::SimConfig) -> doip_sim::SimHandle {
    doip_sim::Simulator::new(config).unwrap().spawn().unwrap()
}

/// A client builder for ECU `ecu` behind `sim`, on its ports.
pub(crate) fn builder(
    sim: &doip_sim::SimHandle,
    ecu: doip_proto::LogicalAddress,
) -> doip_client::ClientBuilder {
    doip_client::ClientBuilder::new(sim.tcp.ip(), ecu)
        .tcp_port(sim.tcp.port())
        .udp_port(sim.udp.port())
}

/// `22 F1 90`: ReadDataByIdentifier VIN.
pub(crate) const READ_VIN: [u8; 3] = [0x22, 0xF1, 0x90];
/// `50 03 00 32 01 F4`: the positive answer to `10 03`.
pub(crate) const SESSION_ANSWER: [u8; 6] = [0x50, 0x03, 0x00, 0x32, 0x01, 0xF4];

// ---------------------------------------------------------------------------------------------
// Scripts.

/// One thing the entity does on a connection.
pub(crate) enum Step {
    /// Reads the tester's frames until one of this payload type arrives (every frame read is
    /// recorded); a failure when none comes within [`PATIENCE`].
    Expect(u16),
    /// Writes these bytes (any number of frames) in one write.
    Send(Vec<u8>),
    /// Waits.
    Sleep(Duration),
    /// Writes `bytes` every `every`, `times` times; stops early once the tester is gone.
    Repeat { bytes: Vec<u8>, every: Duration, times: usize },
    /// Closes the connection; the script ends.
    Close,
    /// Anything else, on the raw connection.
    Custom(Box<dyn FnOnce(&mut Conn) + Send>),
}

/// Concatenates script parts.
pub(crate) fn script(parts: impl IntoIterator<Item = Vec<Step>>) -> Vec<Step> {
    parts.into_iter().flatten().collect()
}

/// Reads the routing activation request and answers 0x10 for [`TESTER`].
pub(crate) fn activate() -> Vec<Step> {
    vec![Step::Expect(pt::ACTIVATION_REQUEST), Step::Send(activation_response(TESTER, 0x10))]
}

/// Reads the next diagnostic request and sends `frames` in one write.
pub(crate) fn on_request(frames: &[Vec<u8>]) -> Vec<Step> {
    vec![Step::Expect(pt::DIAGNOSTIC), Step::Send(frames.concat())]
}

/// A frame the tester sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Received {
    /// Which connection (0: the first accepted).
    pub(crate) conn: usize,
    pub(crate) payload_type: u16,
    pub(crate) payload: Vec<u8>,
}

impl Received {
    /// The UDS bytes of a diagnostic message.
    pub(crate) fn uds(&self) -> Option<&[u8]> {
        (self.payload_type == pt::DIAGNOSTIC && self.payload.len() >= 4).then(|| &self.payload[4..])
    }

    /// The target address of a diagnostic message.
    pub(crate) fn target(&self) -> Option<u16> {
        (self.payload_type == pt::DIAGNOSTIC && self.payload.len() >= 4)
            .then(|| u16::from_be_bytes([self.payload[2], self.payload[3]]))
    }
}

#[derive(Debug, Default)]
struct Shared {
    received: Vec<Received>,
    failures: Vec<String>,
    accepted: usize,
    peers: Vec<SocketAddr>,
}

/// One accepted connection, as a script step sees it.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) index: usize,
    buf: Vec<u8>,
    shared: Arc<Mutex<Shared>>,
}

impl Conn {
    /// The tester's next whole frame (recorded), waiting up to `wait`; `None` at the end of
    /// the stream, on an error, or when the wait is over.
    pub(crate) fn next_frame(&mut self, wait: Duration) -> Option<Received> {
        let until = Instant::now() + wait;
        loop {
            if let Some(r) = self.parse() {
                self.shared.lock().unwrap().received.push(r.clone());
                return Some(r);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let slice = left.clamp(Duration::from_millis(1), Duration::from_millis(100));
            self.stream.set_read_timeout(Some(slice)).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(_) => return None,
            }
        }
    }

    fn parse(&mut self) -> Option<Received> {
        let header = self.buf.get(..8)?;
        let payload_type = u16::from_be_bytes([header[2], header[3]]);
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let payload = self.buf.get(8..8 + len)?.to_vec();
        self.buf.drain(..8 + len);
        Some(Received { conn: self.index, payload_type, payload })
    }

    /// Writes `bytes`; whether it worked.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Records a script failure (see [`Entity::assert_script_ok`]).
    pub(crate) fn fail(&self, why: &str) {
        self.shared.lock().unwrap().failures.push(format!("connection #{}: {why}", self.index));
    }

    fn run(&mut self, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Expect(payload_type) => {
                    let found = std::iter::from_fn(|| self.next_frame(PATIENCE))
                        .any(|r| r.payload_type == payload_type);
                    if !found {
                        self.fail(&format!("no frame of type {payload_type:#06x} came"));
                        return;
                    }
                }
                Step::Send(bytes) => {
                    if !self.send(&bytes) {
                        return;
                    }
                }
                Step::Sleep(d) => thread::sleep(d),
                Step::Repeat { bytes, every, times } => {
                    for _ in 0..times {
                        if !self.send(&bytes) {
                            return;
                        }
                        thread::sleep(every);
                    }
                }
                Step::Close => return,
                Step::Custom(f) => f(self),
            }
        }
        // The script is done: keep the connection open, recording what comes, until the
        // tester closes it.
        while self.next_frame(PATIENCE).is_some() {}
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted)
}

/// The scripted entity: a listener on 127.0.0.1 and one thread per connection.
pub(crate) struct Entity {
    pub(crate) addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Entity {
    /// Listens; runs `scripts[i]` on the `i`-th connection accepted. After the last script
    /// (or [`PATIENCE`] without a connection) the listener is closed: later dials are
    /// refused.
    pub(crate) fn start(scripts: Vec<Vec<Step>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        thread::spawn(move || {
            for (index, steps) in scripts.into_iter().enumerate() {
                let Some(stream) = accept(&listener) else { return };
                stream.set_nonblocking(false).unwrap();
                stream.set_nodelay(true).unwrap();
                stream.set_write_timeout(Some(PATIENCE)).unwrap();
                {
                    let mut state = state.lock().unwrap();
                    state.accepted += 1;
                    state.peers.extend(stream.peer_addr().ok());
                }
                let shared = state.clone();
                thread::spawn(move || {
                    let mut conn = Conn { stream, index, buf: Vec::new(), shared };
                    conn.run(steps);
                });
            }
        });
        Self { addr, shared }
    }

    /// Every frame the tester sent, in order of arrival per connection.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// The UDS bytes of every diagnostic request received.
    pub(crate) fn uds_requests(&self) -> Vec<Vec<u8>> {
        self.received().iter().filter_map(|r| r.uds().map(<[u8]>::to_vec)).collect()
    }

    /// How many times the diagnostic request `data` arrived.
    pub(crate) fn times_received(&self, data: &[u8]) -> usize {
        self.uds_requests().iter().filter(|r| *r == data).count()
    }

    /// How many frames of `payload_type` arrived.
    pub(crate) fn count(&self, payload_type: u16) -> usize {
        self.received().iter().filter(|r| r.payload_type == payload_type).count()
    }

    /// Where each accepted connection came from.
    pub(crate) fn peers(&self) -> Vec<SocketAddr> {
        self.shared.lock().unwrap().peers.clone()
    }

    /// How many connections were accepted.
    pub(crate) fn accepted(&self) -> usize {
        self.shared.lock().unwrap().accepted
    }

    /// Fails the test when a script step did not happen as written.
    pub(crate) fn assert_script_ok(&self) {
        let failures = self.shared.lock().unwrap().failures.clone();
        assert!(failures.is_empty(), "the entity's script failed: {failures:?}");
    }
}

/// The next connection, within [`PATIENCE`].
fn accept(listener: &TcpListener) -> Option<TcpStream> {
    let until = Instant::now() + PATIENCE;
    while Instant::now() < until {
        match listener.accept() {
            Ok((stream, _)) => return Some(stream),
            Err(e) if is_timeout(&e) => thread::sleep(Duration::from_millis(2)),
            Err(_) => return None,
        }
    }
    None
}

/// A UDP responder on 127.0.0.1: answers each of the first `times` datagrams it receives
/// (within [`PATIENCE`]) with `answer`, to the sender.
pub(crate) fn udp_responder(answer: Vec<u8>, times: usize) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 1500];
        for _ in 0..times {
            let Ok((_, from)) = socket.recv_from(&mut buf) else { return };
            let _ = socket.send_to(&answer, from);
        }
    });
    addr
}

/// Runs `f` on its own thread and returns its result, failing the test when it takes longer
/// than `limit` (for calls that must not hang, such as waits of `Duration::MAX`). A panic in
/// `f` is the test's panic.
pub(crate) fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let handle = thread::spawn(f);
    let until = Instant::now() + limit;
    while !handle.is_finished() {
        assert!(Instant::now() < until, "did not finish within {limit:?}");
        thread::sleep(Duration::from_millis(5));
    }
    match handle.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
