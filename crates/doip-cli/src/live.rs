//! The commands that talk to a live entity.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use doip_client::{AnnouncementListener, Client, ClientBuilder, Discovery, Entity};
use doip_proto::LogicalAddress;
use doip_transport::TlsClient;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

use crate::args::{Conn, DiscoverArgs, ListenArgs, SendArgs};
use crate::{Failure, json};

/// Prints `value` as one JSON line, or `text`.
pub(crate) fn emit(json: bool, value: &Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

/// The TLS settings asked for, if any.
fn tls(conn: &Conn, ip: IpAddr) -> Result<Option<TlsClient>, Failure> {
    if !conn.tls {
        return Ok(None);
    }
    let tls_error = |e: &dyn std::fmt::Display| Failure::new(Failure::IO, format!("TLS: {e}"));
    let mut config = if conn.insecure_test_bench {
        doip_transport::tls::insecure_test_bench_client_config().map_err(|e| tls_error(&e))?
    } else if let Some(ca) = &conn.ca {
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| Failure::new(Failure::IO, format!("{}: {e}", ca.display())))?;
        if certs.is_empty() {
            return Err(Failure::new(
                Failure::IO,
                format!("{}: no PEM certificate found", ca.display()),
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| tls_error(&format!("{}: {e}", ca.display())))?;
        }
        doip_transport::tls::client_config(roots).map_err(|e| tls_error(&e))?
    } else {
        doip_transport::tls::platform_client_config().map_err(|e| tls_error(&e))?
    };
    if let Some(capture) = &conn.capture {
        let keys = crate::capture::key_log_path(capture);
        config.key_log = Arc::new(doip_transport::tls::KeyLogFile::new(keys));
    }
    let name = conn.server_name.clone().unwrap_or_else(|| ip.to_string());
    let server_name = doip_transport::tls::server_name(&name)
        .map_err(|e| Failure::new(Failure::USAGE, format!("--server-name {name:?}: {e}")))?;
    Ok(Some(TlsClient { config: Arc::new(config), server_name }))
}

/// `--ip`, or the first entity answering a broadcast.
fn entity_ip(conn: &Conn) -> Result<IpAddr, Failure> {
    if let Some(ip) = conn.ip {
        return Ok(ip);
    }
    let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::BROADCAST), conn.udp_port);
    let entity = Discovery::to(to).timeout(conn.common.timeout).first().map_err(|e| {
        Failure::new(Failure::from(e).code, format!("no --ip given and no entity answered at {to}"))
    })?;
    Ok(entity.address.ip())
}

/// A client builder with every connection option of the command line.
pub(crate) fn builder(
    conn: &Conn,
    ecu: LogicalAddress,
    activate: bool,
) -> Result<ClientBuilder, Failure> {
    let ip = entity_ip(conn)?;
    let t = conn.common.timeout;
    let mut b = ClientBuilder::new(ip, ecu)
        .udp_port(conn.udp_port)
        .client_logical_address(conn.source)
        .protocol_version(conn.common.protocol_version)
        .connect_timeout(t)
        .ack_timeout(t)
        .udp_timeout(t)
        .uds_timing(t, t.max(Duration::from_secs(5)))
        .activation_type(activate.then_some(conn.activation));
    if let Some(port) = conn.port {
        b = b.tcp_port(port);
    }
    if let Some(tls) = tls(conn, ip)? {
        b = b.tls(tls);
    }
    if let Some(path) = &conn.capture {
        b = b.frame_tap(crate::capture::tap(path)?);
    }
    Ok(b)
}

pub(crate) fn connect(conn: &Conn, ecu: LogicalAddress, activate: bool) -> Result<Client, Failure> {
    Ok(builder(conn, ecu, activate)?.connect()?)
}

/// An interface name (`eth0`) or index (`2`) as an index (0: the default).
fn interface_index(name: Option<&str>) -> Result<u32, Failure> {
    Ok(name.map(doip_client::interface_index).transpose()?.unwrap_or(0))
}

fn entity_line(e: &Entity) -> String {
    let a = &e.announcement;
    let sync = a.sync_status.map_or_else(|| "-".to_owned(), |s| format!("{:#04x}", s.value()));
    format!(
        "{:<22} {:<17} {:<7} {:<17} {:<17} {:#04x}   {sync}",
        e.address.to_string(),
        a.vin.to_string(),
        a.logical_address.to_string(),
        a.eid.to_string(),
        a.gid.to_string(),
        a.further_action.value(),
    )
}

const ENTITY_HEADER: &str = "ADDRESS                VIN               LOGICAL EID               GID               ACTION SYNC";

pub(crate) fn discover(a: &DiscoverArgs) -> Result<(), Failure> {
    let mut d = if a.ipv6 {
        let index = interface_index(a.interface.as_deref())?;
        let mut d = Discovery::ipv6_multicast(index);
        if a.udp_port != doip_transport::DISCOVERY_PORT {
            let to = SocketAddr::V6(std::net::SocketAddrV6::new(
                doip_transport::ALL_NODES_V6,
                a.udp_port,
                0,
                index,
            ));
            d = Discovery::to(to);
        }
        d
    } else {
        Discovery::to(SocketAddr::new(a.ip.unwrap_or(a.broadcast), a.udp_port))
    };
    d = d.timeout(a.common.timeout);
    if let Some(vin) = a.vin {
        d = d.vin(vin);
    }
    if let Some(eid) = a.eid {
        d = d.eid(eid);
    }
    let entities = d.run()?;
    if !a.common.json {
        println!("{ENTITY_HEADER}");
    }
    for e in &entities {
        emit(a.common.json, &json::entity(e), || entity_line(e));
    }
    if entities.is_empty() {
        return Err(Failure::new(
            Failure::UNREACHABLE,
            format!("no entity answered within {}", humantime::format_duration(a.common.timeout)),
        ));
    }
    Ok(())
}

pub(crate) fn listen(a: &ListenArgs) -> Result<(), Failure> {
    let index = if a.ipv6 { interface_index(a.interface.as_deref())? } else { 0 };
    let mut listener = AnnouncementListener::bind(a.udp_port, a.ipv6, index)?;
    eprintln!("listening for vehicle announcements on UDP port {}", listener.port());
    if !a.json {
        println!("{ENTITY_HEADER}");
    }
    // A timeout too large for the clock is no deadline.
    let deadline = a.timeout.and_then(|t| Instant::now().checked_add(t));
    let mut seen = 0;
    while a.count.is_none_or(|n| seen < n) {
        let wait = deadline
            .map_or(Duration::from_hours(1), |d| d.saturating_duration_since(Instant::now()));
        match listener.next(wait) {
            Ok(e) => {
                seen += 1;
                emit(a.json, &json::entity(&e), || entity_line(&e));
            }
            Err(doip_client::Error::Timeout { .. }) if deadline.is_none() => {}
            Err(doip_client::Error::Timeout { .. }) if a.count.is_none() => return Ok(()),
            Err(e @ doip_client::Error::Timeout { .. }) => {
                let wanted = a.count.unwrap_or_default();
                return Err(Failure::new(
                    Failure::UNREACHABLE,
                    format!("{seen} of {wanted} announcements: {e}"),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub(crate) fn status(c: &Conn) -> Result<(), Failure> {
    let mut client = connect(c, LogicalAddress(0), false)?;
    let s = client.request_entity_status()?;
    emit(c.common.json, &json::message_object(&s.into()), || {
        let max = s.max_data_size.map_or_else(|| "not reported".into(), |m| m.to_string());
        format!(
            "{}: {}, {} of {} TCP_DATA sockets open, max data size {max}",
            client.peer().ip(),
            s.node_type,
            s.currently_open_sockets,
            s.max_open_sockets,
        )
    });
    Ok(())
}

pub(crate) fn power_mode(c: &Conn) -> Result<(), Failure> {
    let mut client = connect(c, LogicalAddress(0), false)?;
    let p = client.request_diagnostic_power_mode()?;
    emit(c.common.json, &json::message_object(&p.into()), || {
        format!("{}: power mode {}", client.peer().ip(), p.power_mode)
    });
    Ok(())
}

pub(crate) fn alive(c: &Conn) -> Result<(), Failure> {
    let mut client = connect(c, LogicalAddress(0), false)?;
    let started = Instant::now();
    let r = client.request_alive_check()?;
    let took = started.elapsed();
    emit(c.common.json, &json::message_object(&r.into()), || {
        format!("{}: alive, source address {} ({took:.1?})", client.peer(), r.source_address)
    });
    Ok(())
}

pub(crate) fn activate(c: &Conn) -> Result<(), Failure> {
    let mut client = connect(c, LogicalAddress(0), false)?;
    let r = client.request_activation(c.activation, None, true)?;
    emit(c.common.json, &json::message_object(&r.into()), || {
        format!(
            "{}: {} for tester {} (entity {})",
            client.peer(),
            r.response_code,
            r.tester_address,
            r.entity_address
        )
    });
    Ok(())
}

/// Spaced upper-case hex, as UDS traces are usually read.
pub(crate) fn spaced(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        let _ = write!(s, "{sep}{b:02X}");
    }
    s
}

/// Prints one UDS answer; says whether it was negative.
fn answer(
    json: bool,
    request: &[u8],
    from: LogicalAddress,
    to: LogicalAddress,
    data: &[u8],
) -> bool {
    let negative = data.first() == Some(&0x7F);
    let value = serde_json::json!({
        "source_address": from.0,
        "target_address": to.0,
        "user_data": json::hex(data),
        "request": json::hex(request),
        "negative": negative,
    });
    emit(json, &value, || {
        let note = match data {
            [0x7F, sid, nrc, ..] => format!("   (negative: service {sid:#04x}, NRC {nrc:#04x})"),
            _ => String::new(),
        };
        format!("{from} -> {to}: {}{note}", spaced(data))
    });
    negative
}

pub(crate) fn send(a: &SendArgs) -> Result<(), Failure> {
    let c = &a.conn;
    let mut client = connect(c, a.target, true)?;
    let mut negative = 0;
    for request in &a.requests {
        if a.functional {
            let answers = client.functional_request(a.target, request, c.common.timeout)?;
            if answers.is_empty() {
                return Err(Failure::new(
                    Failure::UNREACHABLE,
                    format!("no ECU answered {} sent to {}", spaced(request), a.target),
                ));
            }
            for (ecu, data) in answers {
                negative += usize::from(answer(c.common.json, request, ecu, c.source, &data));
            }
        } else {
            let data = client.request(a.target, request)?;
            negative += usize::from(answer(c.common.json, request, a.target, c.source, &data));
        }
    }
    if negative > 0 {
        return Err(Failure::new(Failure::NEGATIVE, format!("{negative} negative answer(s)")));
    }
    Ok(())
}
