//! Decodes a DoIP byte stream with `doip-proto` alone and prints every message.
//!
//! ```text
//! cargo run -p doip-proto --example decode                 # a built-in sample session
//! cargo run -p doip-proto --example decode -- 02fd8001 00000006 0e80 4010 1003
//! ```
//! Hex arguments are joined into one stream (spaces anywhere are fine).

use doip_proto::{HeaderPolicy, StreamDecoder};

/// A tester's session with one entity: routing activation, alive check, a UDS request and
/// its acknowledgement and answer, and a vendor-specific frame.
const SAMPLE: &str = "
    02fd0005 0000000b 0e80 00 00000000 00000000
    02fd0006 00000009 0e80 4010 10 00000000
    02fd0007 00000000
    02fd0008 00000002 0e80
    02fd8001 00000007 0e80 4010 22 f190
    02fd8002 00000008 4010 0e80 00 22f190
    02fd8001 00000018 4010 0e80 62 f190 4241554e4545344d5a3137303432343033
    02fdf010 00000003 010203
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = if args.is_empty() { SAMPLE.to_owned() } else { args.join("") };
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
        eprintln!("error: the input is not an even number of hex digits");
        std::process::exit(2);
    }
    let bytes: Vec<u8> = digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("00"), 16).unwrap_or(0))
        .collect();

    // A capture reader accepts vendor payload types instead of refusing them.
    let mut decoder = StreamDecoder::new(HeaderPolicy::tcp().with_unknown_payload_types(true));
    let mut rest = &bytes[..];
    let mut count = 0;
    while !rest.is_empty() {
        rest = &rest[decoder.push(rest)..];
        while let Some(result) = decoder.next_frame() {
            count += 1;
            match result {
                Ok(frame) => {
                    println!("#{count} v{:#04x} {}", frame.header.version.value(), frame.message);
                }
                Err(e) => println!("#{count} refused: {e} (answer: {:?})", e.nack_code()),
            }
        }
    }
    if decoder.buffered_len() > 0 {
        println!("{} trailing bytes do not make a whole message", decoder.buffered_len());
    }
}
