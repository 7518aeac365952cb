//! `doip demo`: the whole stack against the built-in simulated entity, on loopback.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use doip_client::{Client, ClientBuilder, Discovery};
use doip_proto::LogicalAddress;
use doip_sim::{SimConfig, Simulator};
use doip_uds::{EcuChannel, MemoryFormat, UdsClient};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Failure;
use crate::args::DemoArgs;

const ENGINE: LogicalAddress = LogicalAddress(0x4011);
const BRAKES: LogicalAddress = LogicalAddress(0x4012);

/// A UDS answer that must be positive (`sid + 0x40`).
fn expect_positive(what: &str, request: &[u8], answer: &[u8]) -> Result<(), Failure> {
    if answer.first().copied() == request.first().map(|sid| sid.wrapping_add(0x40)) {
        return Ok(());
    }
    Err(Failure::new(Failure::NEGATIVE, format!("{what}: unexpected answer {answer:02X?}")))
}

pub(crate) fn run(a: &DemoArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let config = SimConfig { bind: loopback, tcp_port: 0, udp_port: 0, ..SimConfig::default() };
    let sim = Simulator::new(&config)
        .and_then(Simulator::spawn)
        .map_err(|e| Failure::new(Failure::IO, format!("cannot start the simulator: {e}")))?;
    println!("simulated entity: TCP_DATA {}, UDP_DISCOVERY {}", sim.tcp, sim.udp);

    // 1. Discovery: a vehicle identification request, answered with the announcement.
    let entity = Discovery::to(sim.udp).first()?;
    let a_ = &entity.announcement;
    println!(
        "discovered  {} at {}: VIN {}, EID {}, GID {}",
        a_.logical_address, entity.address, a_.vin, a_.eid, a_.gid
    );

    // 2. Routing activation (as part of connecting).
    let mut client = ClientBuilder::new(loopback, ENGINE)
        .tcp_port(sim.tcp.port())
        .udp_port(sim.udp.port())
        .connect()?;
    println!(
        "activated   routing for tester {} on {}",
        LogicalAddress::DEFAULT_TESTER,
        client.peer()
    );

    // 3. Entity status and power mode.
    let status = client.request_entity_status()?;
    println!(
        "status      {}, {}/{} sockets open, max data size {}",
        status.node_type,
        status.currently_open_sockets,
        status.max_open_sockets,
        status.max_data_size.map_or_else(|| "-".to_owned(), |m| m.to_string())
    );
    let power = client.request_diagnostic_power_mode()?;
    println!("power mode  {}", power.power_mode);

    // 4. The VIN from both ECUs behind the gateway, over UDS ReadDataByIdentifier F190.
    for ecu in [ENGINE, BRAKES] {
        let vin =
            UdsClient::new(EcuChannel::new(&mut client, ecu)).read_data_by_identifier(0xF190)?;
        println!("UDS 22 F190 {ecu} -> VIN {}", String::from_utf8_lossy(&vin));
    }

    // 5. Round-trip latency: TesterPresent, request to final answer.
    let mut times = Vec::with_capacity(a.round_trips as usize);
    for _ in 0..a.round_trips.max(1) {
        let t = Instant::now();
        let answer = client.request(ENGINE, &[0x3E, 0x00])?;
        times.push(t.elapsed());
        expect_positive("TesterPresent", &[0x3E], &answer)?;
    }
    times.sort_unstable();
    let p50 = times[times.len() / 2];
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];

    // 6. A flash download with a CRC check.
    let image: Vec<u8> = (0..a.flash_bytes).map(|i| (i * 31 + i / 251) as u8).collect();
    let flash = flash(&mut client, &image)?;
    let mib = f64::from(u32::try_from(image.len()).unwrap_or(u32::MAX)) / f64::from(1 << 20);
    println!(
        "flashed     {} bytes in {} blocks of {} bytes to {ENGINE}, CRC-32 {:08x} confirmed",
        image.len(),
        image.len().div_ceil(flash.block),
        flash.block,
        flash.crc,
    );
    let counters = client.counters();
    client.close()?;
    sim.stop().map_err(|e| Failure::new(Failure::IO, e))?;

    println!();
    println!("summary");
    println!("  round trip (UDS 3E 00, {} samples)  p50 {p50:.1?}  p99 {p99:.1?}", times.len());
    println!(
        "  flash download                      {:.1} MiB/s ({mib:.1} MiB in {:.2?})",
        mib / flash.time.as_secs_f64(),
        flash.time,
    );
    println!(
        "  DoIP frames                         {} sent, {} received, {} NACKs",
        counters.frames_sent, counters.frames_received, counters.nacks
    );
    println!("  total                               {:.2?}", started.elapsed());
    Ok(())
}

/// What a flash download measured.
struct Flashed {
    time: Duration,
    block: usize,
    crc: u32,
}

/// RequestDownload, TransferData blocks with a progress bar, RequestTransferExit; the CRC-32
/// the ECU reports must be the image's.
/// The download through doip-uds: RequestDownload, TransferData blocks of the size the ECU
/// grants, RequestTransferExit, whose record carries the simulator's CRC-32 of what it got.
fn flash(client: &mut Client, image: &[u8]) -> Result<Flashed, Failure> {
    let bar = ProgressBar::new(image.len() as u64).with_style(
        ProgressStyle::with_template(
            "flashing    [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .map_err(|e| Failure::new(Failure::IO, e))?
        .progress_chars("=> "),
    );
    let mut uds = UdsClient::new(EcuChannel::new(client, ENGINE));
    uds.options_mut().memory_format = Some(MemoryFormat::FOUR_FOUR);
    let started = Instant::now();
    let summary = uds.download(0, image, &mut |sent| bar.set_position(sent))?;
    let time = started.elapsed();
    bar.finish_and_clear();
    let crc = crc32fast::hash(image);
    let reported =
        summary.exit_record.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
    if reported != Some(crc) {
        return Err(Failure::new(
            Failure::NEGATIVE,
            format!("the ECU reports CRC {reported:08x?}, the image has {crc:08x}"),
        ));
    }
    Ok(Flashed { time, block: summary.parameters.data_per_block(), crc })
}
