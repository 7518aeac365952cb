//! The plain TCP peer both benchmarks compare with.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

/// A plain peer: reads `request` bytes, answers `answer` bytes in two writes (ACK, then
/// response), forever.
pub(crate) fn plain_peer(request: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                s.set_nodelay(true).expect("nodelay");
                let mut buf = vec![0u8; request];
                while s.read_exact(&mut buf).is_ok() {
                    if s.write_all(&[0u8; 13]).is_err() || s.write_all(&[0u8; 14]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
