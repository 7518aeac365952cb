//! `doip decode`: DoIP in a capture file, or in hex bytes from the command line.
//!
//! Every frame gets a DoIP entity's header checks (`DecodeOptions::policy`: versions
//! 0x01–0x04, 0xFF only in vehicle identification requests, payload type known and carried
//! on the transport, length allowed for the type, at most 16 MiB). A frame an entity would
//! refuse is printed with what could still be decoded plus an `"error"` object naming the rule,
//! the generic NACK the entity answers and whether it closes the connection; it counts as
//! malformed (exit 1). Captures are checked on the transport they were captured on. Hex bytes
//! come without one: each frame is checked as on the transport its payload type travels on (TCP
//! for types allowed on both), so the transport check cannot fail there, and frames follow each
//! other as in a TCP stream. After a wrong inverse version byte the length field is not trusted
//! and hex decoding stops (a capture's TCP stream resynchronises on the next plausible header);
//! after any other refusal the length field steps over the frame and decoding goes on.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::time::Duration;

use doip_pcap::{CaptureError, Content, DecodeOptions, StreamError, frame_content};
use doip_proto::header::HEADER_LEN;
use doip_proto::{GenericNackCode, Header, Message, Transport};
use serde_json::{Map, Value};

use crate::args::{DecodeArgs, parse_hex};
use crate::{Failure, json};

/// Where and when a decoded unit was seen (absent for hex from the command line).
struct Seen {
    frame: u64,
    place: Option<(Duration, SocketAddr, SocketAddr, Transport)>,
    /// The transport its header was checked for (for hex input, the one its type travels on).
    checked_as: Transport,
}

/// What an entity does about a malformed unit: the rule broken, the generic NACK it answers
/// (none for capture artefacts such as gaps) and whether it then closes the TCP connection.
struct Verdict {
    rule: String,
    nack: Option<GenericNackCode>,
    closes: bool,
}

impl Verdict {
    fn new(error: &StreamError, transport: Transport) -> Self {
        let (nack, closes) = match error {
            StreamError::Doip(e) => {
                (e.nack_code(), e.closes_connection() && transport == Transport::Tcp)
            }
            _ => (None, false),
        };
        Self { rule: error.to_string(), nack, closes }
    }
}

/// Writes events as text or JSON lines and counts malformed ones.
struct Printer<W: Write> {
    out: W,
    json: bool,
    quiet: bool,
    malformed: u64,
    error: Option<std::io::Error>,
}

impl<W: Write> Printer<W> {
    /// Counts `content` and writes it, with where it was `seen` (built only when written).
    fn print(&mut self, seen: impl FnOnce() -> Seen, content: &Content<'_>) {
        if matches!(content, Content::Malformed { .. }) {
            self.malformed += 1;
        }
        if self.quiet || self.error.is_some() {
            return;
        }
        let seen = &seen();
        let written = if self.json {
            let line = Value::Object(object(seen, content));
            writeln!(self.out, "{line}")
        } else {
            writeln!(self.out, "{}", text(seen, content))
        };
        // A closed pipe (`doip decode ... | head`) ends the output, not the program.
        if let Err(e) = written {
            self.error = Some(e);
        }
    }
}

fn object(seen: &Seen, content: &Content<'_>) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("frame".into(), seen.frame.into());
    if let Some((time, src, dst, transport)) = seen.place {
        map.insert("time".into(), time.as_secs_f64().into());
        map.insert("src".into(), src.to_string().into());
        map.insert("dst".into(), dst.to_string().into());
        let transport = match transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        };
        map.insert("transport".into(), transport.into());
    }
    match content {
        Content::Message { header, message } => {
            json::header(&mut map, header);
            json::message(&mut map, message);
        }
        Content::Malformed { header, message, error } => {
            if let Some(header) = header {
                json::header(&mut map, header);
            }
            if let Some(message) = message {
                json::message(&mut map, message);
            }
            let v = Verdict::new(error, seen.checked_as);
            map.insert("error".into(), json::error(&v.rule, v.nack, v.closes));
        }
        Content::Tls { content_type, version, length } => {
            map.insert("tls".into(), tls_name(*content_type).into());
            map.insert("tls_content_type".into(), (*content_type).into());
            map.insert("tls_version".into(), (*version).into());
            map.insert("tls_length".into(), (*length).into());
        }
    }
    map
}

fn tls_name(content_type: u8) -> &'static str {
    match content_type {
        20 => "change_cipher_spec",
        21 => "alert",
        22 => "handshake",
        23 => "application_data",
        24 => "heartbeat",
        _ => "unknown",
    }
}

fn text(seen: &Seen, content: &Content<'_>) -> String {
    let mut line = format!("#{}", seen.frame);
    if let Some((time, src, dst, transport)) = seen.place {
        let t = time.as_secs_f64();
        let _ = write!(line, " {t:.6} {src} -> {dst} {transport}");
    }
    match content {
        Content::Message { header, message } => {
            let _ = write!(line, " v{}: {message}", header.version.value());
            if let Message::DiagnosticMessage(d) = message {
                let _ = write!(line, " | UDS {}", doip_uds::describe::describe(&d.user_data));
            }
        }
        Content::Malformed { header, message, error } => {
            let v = Verdict::new(error, seen.checked_as);
            let _ = write!(line, " MALFORMED: {}", v.rule);
            if let Some(nack) = v.nack {
                let closes = if v.closes { " and closes the connection" } else { "" };
                let _ = write!(line, "; an entity answers generic NACK {nack}{closes}");
            }
            match (header, message) {
                (Some(h), Some(m)) => {
                    let _ = write!(line, " | v{}: {m}", h.version.value());
                }
                (Some(h), None) => {
                    let _ = write!(
                        line,
                        " | v{}: {}, {}-byte payload",
                        h.version.value(),
                        h.payload_type,
                        h.payload_length
                    );
                }
                (None, _) => {}
            }
        }
        Content::Tls { content_type, length, .. } => {
            let name = tls_name(*content_type);
            let _ = write!(line, " TLS {name} record, {length} bytes (encrypted)");
        }
    }
    line
}

pub(crate) fn run(a: &DecodeArgs) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut printer = Printer {
        out: BufWriter::with_capacity(1 << 16, stdout.lock()),
        json: a.json,
        quiet: a.summary,
        malformed: 0,
        error: None,
    };
    let result = match &a.pcap {
        Some(path) => capture(a, path, &mut printer),
        None => hex(&a.hex, &mut printer),
    };
    let _ = printer.out.flush();
    result?;
    if printer.malformed > 0 {
        return Err(Failure::new(
            Failure::NEGATIVE,
            format!("{} malformed DoIP message(s)", printer.malformed),
        ));
    }
    Ok(())
}

fn capture<W: Write>(
    a: &DecodeArgs,
    path: &std::path::Path,
    printer: &mut Printer<W>,
) -> Result<(), Failure> {
    let mut options = DecodeOptions::default();
    options.doip_ports.extend(&a.port);
    options.tls_ports.extend(&a.tls_port);
    let name = path.display().to_string();
    let sink = |e: &doip_pcap::Event<'_>| {
        let seen = || Seen {
            frame: e.packet,
            place: Some((e.time, e.src, e.dst, e.transport)),
            checked_as: e.transport,
        };
        printer.print(seen, &e.content);
    };
    let result = if name == "-" {
        doip_pcap::decode_capture(std::io::stdin(), options, sink)
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| Failure::new(Failure::IO, format!("cannot open {name}: {e}")))?;
        // A file never blocks a read for long: read it ahead on a second thread.
        doip_pcap::CaptureReader::read_ahead(file)
            .and_then(|reader| doip_pcap::decode_with(reader, options, sink))
    };
    let stats =
        result.map_err(|e: CaptureError| Failure::new(Failure::IO, format!("{name}: {e}")))?;
    if a.summary {
        println!(
            "{name}: {} packets, {} on DoIP ports, {} DoIP messages, {} malformed, \
             {} TLS records, {} not decoded (not IP, fragments, cut short)",
            stats.packets,
            stats.doip_packets,
            stats.messages,
            stats.malformed,
            stats.tls_records,
            stats.skipped
        );
    }
    Ok(())
}

/// Frames back to back in hex arguments, checked as the module documentation says.
fn hex<W: Write>(args: &[String], printer: &mut Printer<W>) -> Result<(), Failure> {
    let bytes = parse_hex(&args.concat()).map_err(|e| Failure::new(Failure::USAGE, e))?;
    let options = DecodeOptions::default();
    let (tcp, udp) = (options.policy(Transport::Tcp), options.policy(Transport::Udp));
    let mut rest = &bytes[..];
    let mut frame = 0;
    while !rest.is_empty() {
        frame += 1;
        let Some(head) = rest.first_chunk::<HEADER_LEN>() else {
            // As in a stream: the input ends inside a header (no NACK: nothing was refused).
            let seen = Seen { frame, place: None, checked_as: Transport::Tcp };
            let error = StreamError::Truncated { have: rest.len(), need: HEADER_LEN };
            printer.print(|| seen, &Content::Malformed { header: None, message: None, error });
            break;
        };
        let header = Header::from_bytes(*head);
        let policy = if header.payload_type.allowed_on(Transport::Tcp) { &tcp } else { &udp };
        let seen = Seen { frame, place: None, checked_as: policy.transport() };
        let total = HEADER_LEN.saturating_add(header.payload_length as usize);
        let refusal = policy.validate(&header).err();
        let payload = rest.get(HEADER_LEN..total);
        // A broken pattern leaves the length untrusted, and an entity closes: stop there.
        let stop = !header.has_valid_pattern() || payload.is_none();
        let content = match (payload, refusal) {
            (Some(payload), _) if header.has_valid_pattern() => {
                frame_content(policy, header, payload)
            }
            (_, Some(e)) => {
                Content::Malformed { header: Some(header), message: None, error: e.into() }
            }
            (_, None) => {
                let error = StreamError::Truncated { have: rest.len(), need: total };
                Content::Malformed { header: Some(header), message: None, error }
            }
        };
        printer.print(|| seen, &content);
        if stop {
            break;
        }
        rest = &rest[total..];
    }
    Ok(())
}
