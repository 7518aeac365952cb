//! `doip flash` of a 16 MiB image to `doip sim` (release builds, separate processes), beside
//! plain stop-and-wait TCP moving the same frames and beside Python udsoncan + doipclient
//! (and + `doip_rs`) doing the same download (`tests/interop/bench.py`), all in one run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::bench::{PythonFigure, python_figure, time};
use crate::interop::Sim;

/// Image size and TransferData data per block (the simulator grants 4095-byte messages).
const IMAGE: usize = 16 << 20;
const BLOCK: usize = 4093;

/// Runs the comparison; `python` holds bench.py's figures.
pub(crate) fn run(python: &[PythonFigure]) -> Result<()> {
    let target = crate::workspace_root().join("target");
    let file = target.join("bench-image-16mib.bin");
    let image: Vec<u8> = (0..IMAGE).map(|i| (i * 31) as u8).collect();
    std::fs::write(&file, &image)?;
    // Quiet: the simulator's line per request would cost more than the flash being timed.
    let sim = Sim::start(
        true,
        &["--bind", "127.0.0.1", "--tcp-port", "0", "--udp-port", "0", "--quiet"],
    )?;
    let (ip, port) = (sim.tcp.ip().to_string(), sim.tcp.port().to_string());
    let path = file.to_string_lossy().into_owned();
    let args = [
        "flash",
        &path,
        "--format",
        "bin",
        "--address",
        "0",
        "--target",
        "0x4011",
        "--ip",
        &ip,
        "--port",
        &port,
        "--no-reset",
        "--json",
    ];
    let flash = time(&target.join("release/doip"), &args, 3)?;
    let plain = (0..3).map(|_| stop_and_wait(&image)).collect::<Result<Vec<_>>>()?;
    let plain = plain.into_iter().fold(f64::INFINITY, f64::min);
    let mib = f64::from(u32::try_from(IMAGE >> 20)?);
    println!("\ndoip flash, 16 MiB image to doip sim (processes, release, same run):");
    println!(
        "  doip flash (session, erase, download, check)  {flash:>7.3} s  {:>8.1} MiB/s",
        mib / flash
    );
    println!(
        "  plain stop-and-wait TCP, same frames          {plain:>7.3} s  {:>8.1} MiB/s",
        mib / plain
    );
    println!("  ratio {:.2}x plain TCP (target: at least 0.9x)", plain / flash);
    let job = "udsoncan_flash_16mib";
    match python_figure(python, "doipclient", job) {
        Some(theirs) => println!(
            "  udsoncan 1.26.1 + doipclient 1.2.2, same download  {:>8.1} MiB/s\n  doip flash is {:.1}x faster (target: at least 20x)",
            theirs.rate,
            mib / flash / theirs.rate
        ),
        None => println!("  udsoncan + doipclient: not measured (no Python)"),
    }
    if let Some(ours) = python_figure(python, "doip_rs", job) {
        println!(
            "  udsoncan 1.26.1 + doip_rs, same download           {:>8.1} MiB/s (informative)",
            ours.rate
        );
    }
    Ok(())
}

/// Seconds to move `image` as TransferData-sized frames over loopback TCP, each answered by
/// 27 bytes (an ACK and a `76 xx` answer) before the next goes.
fn stop_and_wait(image: &[u8]) -> Result<f64> {
    let frame = 8 + 4 + 2 + BLOCK;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let blocks = image.len().div_ceil(BLOCK);
    let peer = std::thread::spawn(move || -> Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = vec![0u8; frame];
        for _ in 0..blocks {
            s.read_exact(&mut buf)?;
            s.write_all(&[0u8; 27])?;
        }
        Ok(())
    });
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut out = vec![0u8; frame];
    let mut answer = [0u8; 27];
    let started = Instant::now();
    for chunk in image.chunks(BLOCK) {
        out[14..14 + chunk.len()].copy_from_slice(chunk);
        s.write_all(&out)?;
        s.read_exact(&mut answer)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    peer.join().ok().context("plain TCP peer panicked")??;
    Ok(elapsed)
}
