//! Blocking DoIP round trips over loopback beside a plain `std::net::TcpStream` ping-pong of
//! the same sizes, against the same in-process peer, in the same run.
//!
//! Each round trip: a 14-byte diagnostic request (UDS 3E 00); the peer answers with a 13-byte
//! diagnostic ACK and a 14-byte diagnostic answer (7E 00), written separately as an entity
//! would. `cargo xtask bench` prints the ratio.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use doip_proto::{
    DiagnosticAckCode, DiagnosticMessage, DiagnosticMessagePositiveAck, LogicalAddress, Message,
    ProtocolVersion,
};
use doip_transport::{Blocking, ConnectOptions};

const TESTER: LogicalAddress = LogicalAddress(0x0E00);
const ECU: LogicalAddress = LogicalAddress(0x4010);

fn request() -> DiagnosticMessage<'static> {
    DiagnosticMessage::new(TESTER, ECU, vec![0x3E, 0x00])
}

fn encode(m: &Message<'_>) -> Vec<u8> {
    m.to_bytes(ProtocolVersion::Iso2012).expect("small message")
}

/// A peer that answers every 14-byte request with an ACK and a 14-byte answer, on every
/// connection, until the connection closes.
fn spawn_peer() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let ack = DiagnosticMessagePositiveAck::new(&request(), DiagnosticAckCode::Acknowledged);
    let ack = encode(&Message::from(ack));
    let answer = encode(&Message::from(DiagnosticMessage::new(ECU, TESTER, vec![0x7E, 0x00])));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let (ack, answer) = (ack.clone(), answer.clone());
            std::thread::spawn(move || {
                s.set_nodelay(true).expect("nodelay");
                let mut req = [0u8; 14];
                while s.read_exact(&mut req).is_ok() {
                    if s.write_all(&ack).is_err() || s.write_all(&answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn benches(c: &mut Criterion) {
    let peer = spawn_peer();
    let mut g = c.benchmark_group("blocking_round_trip");
    g.throughput(Throughput::Elements(1));

    let mut transport = Blocking::new().expect("event loop");
    let h = transport.connect(peer, ConnectOptions::default()).expect("connect");
    let message: Message<'_> = request().into();
    g.bench_function("doip_transport", |b| {
        b.iter(|| {
            let deadline = Instant::now() + Duration::from_secs(5);
            transport.send(h, &message).expect("send");
            let ack = transport.recv_frame(h, deadline).expect("ack");
            let answer = transport.recv_frame(h, deadline).expect("answer");
            black_box((ack, answer));
        });
    });

    let mut plain = TcpStream::connect(peer).expect("connect");
    plain.set_nodelay(true).expect("nodelay");
    let bytes = encode(&Message::from(request()));
    let mut reply = [0u8; 13 + 14];
    g.bench_function("std_tcp", |b| {
        b.iter(|| {
            plain.write_all(&bytes).expect("write");
            plain.read_exact(&mut reply).expect("read");
            black_box(&reply);
        });
    });
    g.finish();
}

criterion_group! {
    name = round_trip;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(round_trip);
