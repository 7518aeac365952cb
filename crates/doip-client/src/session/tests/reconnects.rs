//! Lost connections: what is resent (only the provably unwritten), what fails, windows.
#![allow(clippy::unwrap_used)] // tests fail loudly

use super::*;

#[test]
fn a_request_that_may_have_been_delivered_is_never_resent() {
    let mut c = config();
    c.auto_reconnect = true;
    let mut h = Harness::active(c);
    let id = h.start(Request::uds(ENGINE, [0x11, 0x01]));
    h.transmits();
    h.s.handle_disconnected(h.now, &doip_transport::Error::ClosedByPeer { peer: peer() });
    assert!(matches!(h.done(id), Err(Error::MaybeDelivered { target: ENGINE, .. })));
    assert!(h.transmits().is_empty(), "nothing reconnects or resends on its own");
}

#[test]
fn an_unwritten_request_is_sent_once_after_the_reconnect() {
    let mut c = config();
    c.auto_reconnect = true;
    let mut h = Harness::active(c);
    let id = h.start(Request::uds(ENGINE, [0x36, 0x01, 0xAA]));
    h.transmits();
    h.s.handle_unsent(h.now, id);
    h.s.handle_disconnected(h.now, &doip_transport::Error::ClosedByPeer { peer: peer() });
    assert_eq!(h.transmits(), [Sent::Connect(false)]);
    // The dial fails twice (the ECU is still resetting) and is retried inside the window.
    for _ in 0..2 {
        h.s.handle_disconnected(h.now, &doip_transport::Error::Refused { peer: peer() });
        assert!(h.transmits().is_empty());
        h.wait(60 * MS);
        assert_eq!(h.transmits(), [Sent::Connect(false)]);
    }
    h.s.handle_connected(h.now);
    assert_eq!(h.transmits(), [Sent::Tcp(PayloadType::RoutingActivationRequest, None)]);
    // The connection flaps during the handshake: dialed again, the request still waits.
    h.s.handle_disconnected(h.now, &doip_transport::Error::ClosedByPeer { peer: peer() });
    h.wait(60 * MS);
    assert_eq!(h.transmits(), [Sent::Connect(false)]);
    h.s.handle_connected(h.now);
    h.transmits();
    h.feed(activation(TESTER, Code::Success));
    assert_eq!(h.transmits(), [Sent::Uds(ENGINE, vec![0x36, 0x01, 0xAA])]);
    h.feed(ack(ENGINE, TESTER, &[]));
    h.feed(uds(ENGINE, &[0x76, 0x01]));
    assert_eq!(h.done(id).unwrap(), Outcome::Answer(vec![0x76, 0x01]));
    assert_eq!(h.s.counters().reconnects, 1);
}

#[test]
fn without_auto_reconnect_a_lost_connection_is_an_error() {
    let mut h = Harness::active(config());
    let id = h.start(Request::uds(ENGINE, [0x3E, 0x00]));
    h.transmits();
    h.s.handle_unsent(h.now, id);
    h.s.handle_disconnected(h.now, &doip_transport::Error::ClosedByPeer { peer: peer() });
    assert!(matches!(
        h.done(id),
        Err(Error::Transport(doip_transport::Error::ClosedByPeer { .. }))
    ));
    let later = h.s.start(h.now, Request::uds(ENGINE, [0x3E, 0x00]));
    assert!(matches!(later, Err(Error::Transport(doip_transport::Error::NotConnected { .. }))));
}

#[test]
fn a_reconnect_window_ends() {
    let mut h = Harness::active(config());
    let id = h.start(Request::reconnect(Duration::ZERO));
    assert_eq!(h.transmits(), [Sent::Close, Sent::Connect(false)]);
    for _ in 0..100 {
        h.s.handle_disconnected(h.now, &doip_transport::Error::Refused { peer: peer() });
        h.wait(60 * MS);
        if h.transmits().is_empty() {
            break;
        }
    }
    assert!(matches!(h.done(id), Err(Error::Transport(doip_transport::Error::Refused { .. }))));
}
