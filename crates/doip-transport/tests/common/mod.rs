//! A raw peer on blocking `std::net` sockets, independent of the transport under test.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use doip_proto::{DiagnosticMessage, Frame, LogicalAddress, Message, ProtocolVersion};
use doip_transport::{Blocking, Event, EventLoop, Handle};

pub const TESTER: LogicalAddress = LogicalAddress(0x0E00);
pub const ECU: LogicalAddress = LogicalAddress(0x4010);

pub fn deadline(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

pub fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

pub fn bytes(m: &Message<'_>) -> Vec<u8> {
    m.to_bytes(ProtocolVersion::Iso2012).unwrap()
}

pub fn diag(source: LogicalAddress, target: LogicalAddress, data: Vec<u8>) -> Message<'static> {
    DiagnosticMessage::new(source, target, data).into()
}

/// Reads one whole DoIP frame from a blocking stream (5 s read timeout).
pub fn read_frame(s: &mut TcpStream) -> Frame<'static> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 8];
    s.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let mut all = head.to_vec();
    all.resize(8 + len, 0);
    s.read_exact(&mut all[8..]).unwrap();
    Frame::parse(&all).unwrap().0.into_owned()
}

pub fn write(s: &mut TcpStream, m: &Message<'_>) {
    s.write_all(&bytes(m)).unwrap();
}

/// Polls until an event matching `pred` arrives (others collected), or panics at the deadline.
pub fn wait_for(
    lp: &mut EventLoop,
    until: Instant,
    mut pred: impl FnMut(&Event) -> bool,
) -> (Event, Vec<Event>) {
    let mut others = Vec::new();
    loop {
        while let Some(e) = lp.next_event() {
            if pred(&e) {
                return (e, others);
            }
            others.push(e);
        }
        let now = Instant::now();
        assert!(now < until, "timed out; events so far: {others:?}");
        lp.poll(Some(until - now)).unwrap();
    }
}

pub fn user_data(frame: &Frame<'_>) -> Vec<u8> {
    match &frame.message {
        Message::DiagnosticMessage(m) => m.user_data.to_vec(),
        other => panic!("expected a diagnostic message, got {other}"),
    }
}

pub fn recv_data(t: &mut Blocking, h: Handle) -> Vec<u8> {
    user_data(&t.recv_frame(h, deadline(5)).unwrap())
}
