//! `doip flash FILE`: an image to one ECU through doip-uds's `Flasher` — no protocol logic
//! here, only options, progress and the summary.
// Doc comments here are clap's help text: UDS service names are words there, not code.
#![allow(clippy::doc_markdown)]

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use doip_proto::LogicalAddress;
use doip_uds::{Flasher, Image, ImageFormat, Progress, ResetType, SessionType, Step, UdsClient};
use serde_json::json;

use crate::args::{Conn, parse_address, parse_number, parse_u8};
use crate::uds::{SecurityArgs, options};
use crate::{Failure, live};

/// Image file formats on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Format {
    /// Intel HEX.
    Hex,
    /// Motorola S-record.
    Srec,
    /// Raw binary (needs --address).
    Bin,
}

#[derive(Args, Debug)]
pub(crate) struct FlashArgs {
    /// The image: .hex (Intel HEX), .s19/.s28/.s37/.srec (S-record) or .bin (with --address).
    pub(crate) file: PathBuf,
    /// The ECU to flash.
    #[arg(long, value_parser = parse_address)]
    pub(crate) target: LogicalAddress,
    /// The file's format (default: from its extension).
    #[arg(long, value_enum)]
    pub(crate) format: Option<Format>,
    /// Load address of a binary image (decimal or 0x hex).
    #[arg(long, value_parser = parse_number)]
    pub(crate) address: Option<u64>,
    /// Erase routine identifier (hex), or "none" to skip erasing.
    #[arg(long, default_value = "FF00")]
    pub(crate) erase_routine: String,
    /// Check routine identifier (hex; gets the image's CRC-32), or "none" to skip.
    #[arg(long, default_value = "FF01")]
    pub(crate) check_routine: String,
    /// DiagnosticSessionControl session to flash in (0: stay in the current one).
    #[arg(long, value_parser = parse_u8, default_value = "2")]
    pub(crate) session: u8,
    #[command(flatten)]
    pub(crate) security: SecurityArgs,
    /// addressAndLengthFormatIdentifier for RequestDownload and the erase routine (e.g.
    /// 0x44); default: the smallest that holds each segment's address and size.
    #[arg(long, value_parser = parse_u8)]
    pub(crate) memory_format: Option<u8>,
    /// Do not reset the ECU at the end.
    #[arg(long)]
    pub(crate) no_reset: bool,
    /// Wait for each answer without spinning. By default the client spins up to 1 ms for
    /// it on this thread (stop-and-wait TransferData gains most; it backs off on a loaded
    /// machine), and then answers alive checks and sends TesterPresent only while a request
    /// is in flight — a flash always has one but for a --key-command's run.
    #[arg(long)]
    pub(crate) no_busy_poll: bool,
    #[command(flatten)]
    pub(crate) conn: Conn,
}

/// A routine option: an identifier, or `none`.
fn routine(name: &str, value: &str) -> Result<Option<u16>, Failure> {
    if value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    crate::args::parse_id(value)
        .map(Some)
        .map_err(|e| Failure::new(Failure::USAGE, format!("--{name}: {e}")))
}

/// The flash's steps from the options (SecurityAccess is added with its key).
fn steps(a: &FlashArgs, erase: Option<u16>, check: Option<u16>) -> Vec<Step> {
    let mut steps = Vec::new();
    if a.session != 0 {
        steps.push(Step::Session(SessionType::from_value(a.session)));
    }
    if erase.is_some() {
        steps.push(Step::Erase);
    }
    steps.push(Step::Download);
    if check.is_some() {
        steps.push(Step::Check);
    }
    if !a.no_reset {
        steps.push(Step::Reset(ResetType::Hard));
    }
    steps
}

pub(crate) fn run(a: &FlashArgs) -> Result<(), Failure> {
    let format = a.format.map(|f| match f {
        Format::Hex => ImageFormat::IntelHex,
        Format::Srec => ImageFormat::SRecord,
        Format::Bin => ImageFormat::Binary,
    });
    let image = Image::load(&a.file, format, a.address).map_err(|e| {
        let usage = matches!(
            e,
            doip_uds::ImageError::NoAddress | doip_uds::ImageError::UnknownFormat { .. }
        );
        Failure::new(if usage { Failure::USAGE } else { Failure::IO }, e)
    })?;
    let (erase, check) =
        (routine("erase-routine", &a.erase_routine)?, routine("check-routine", &a.check_routine)?);
    let mut key = a.security.algorithm()?;
    let json = a.conn.common.json;
    let spin = if a.no_busy_poll { Duration::ZERO } else { Duration::from_millis(1) };
    let client = live::builder(&a.conn, a.target, true)?.busy_poll(spin).connect()?;
    let mut uds = UdsClient::with_options(client, options(a.memory_format)?);
    let mut flasher = Flasher::new(&image).steps(steps(a, erase, check));
    if let Some(id) = erase {
        flasher = flasher.erase_routine(id);
    }
    if let Some(id) = check {
        flasher = flasher.check_routine(id);
    }
    if let (Some(level), Some(key)) = (a.security.security_level, key.as_deref_mut()) {
        flasher = flasher.security(level, key); // right after the session step
    }
    let mut display = Display::new(json, image.len());
    let result = flasher.on_progress(|p| display.progress(p)).run(&mut uds);
    display.finish();
    let report = result?;
    #[allow(clippy::cast_precision_loss)] // a rate to print
    let rate = report.bytes as f64 / report.elapsed.as_secs_f64().max(1e-9) / f64::from(1u32 << 20);
    live::emit(
        json,
        &json!({
            "event": "done",
            "bytes": report.bytes,
            "segments": report.segments,
            "blocks": report.blocks,
            "max_block_length": report.max_block_length,
            "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
            "mib_per_s": (rate * 100.0).round() / 100.0,
        }),
        || {
            format!(
                "flashed {} bytes in {} segment(s), {} blocks of up to {} bytes, in {:.2?} ({rate:.1} MiB/s)",
                report.bytes,
                report.segments,
                report.blocks,
                report.max_block_length,
                report.elapsed
            )
        },
    );
    Ok(())
}

/// Progress on a terminal (a bar), as JSON lines (`--json`), or as a line per step.
enum Display {
    Bar(indicatif::ProgressBar),
    Json { last: Option<Instant> },
    Lines,
}

impl Display {
    fn new(json: bool, total: u64) -> Self {
        if json {
            Self::Json { last: None }
        } else if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg:24} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            Self::Bar(bar)
        } else {
            Self::Lines
        }
    }

    fn progress(&mut self, p: &Progress) {
        match self {
            Self::Bar(bar) => {
                bar.set_message(p.step);
                bar.set_position(p.bytes_done);
            }
            Self::Json { last } => {
                // Every step start, and download progress at most every 100 ms.
                let now = Instant::now();
                let block = p.step == "download" && p.bytes_done > 0;
                if block
                    && last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
                    && p.bytes_done < p.bytes_total
                {
                    return;
                }
                *last = Some(now);
                println!(
                    "{}",
                    json!({
                        "event": "progress",
                        "step": p.step,
                        "segment": p.segment,
                        "segments": p.segments,
                        "bytes_done": p.bytes_done,
                        "bytes_total": p.bytes_total,
                        "elapsed_ms": u64::try_from(p.elapsed.as_millis()).unwrap_or(u64::MAX),
                    })
                );
            }
            Self::Lines => {
                if p.bytes_done == 0 || p.step != "download" {
                    let seg = p
                        .segment
                        .map(|s| format!(" (segment {} of {})", s + 1, p.segments))
                        .unwrap_or_default();
                    eprintln!("{}{seg}", p.step);
                }
            }
        }
    }

    fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
