//! `rum-healthcheck [ADDR [PATH]]`: the image's HEALTHCHECK. GETs `http://ADDR PATH` (default
//! `127.0.0.1:9100` `/healthz`, the admin listener of deploy/container/rum.toml) and exits 0 on a
//! 200 answer, 1 otherwise, within a few seconds.
//!
//! Why a program of its own: the image holds the rum binary, its libraries and CA certificates
//! and nothing else (no shell, no curl), and rum has no client subcommand. This is std only, so the
//! Containerfile's builder compiles it with plain `rustc` (no Cargo, no crates), and it needs no
//! library the rum binary does not already bring.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

/// Docker's and podman's default HEALTHCHECK timeout is 30 s; a probe that hangs is a failure, so
/// it gives up well before.
const TIMEOUT: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9100".to_owned());
    let path = args.next().unwrap_or_else(|| "/healthz".to_owned());
    match probe(&addr, &path) {
        Ok(status) if status == "200" => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("rum-healthcheck: http://{addr}{path} answered {status}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("rum-healthcheck: http://{addr}{path}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The status code of the answer to one `GET`.
fn probe(addr: &str, path: &str) -> std::io::Result<String> {
    let target = addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "address resolves to nothing")
    })?;
    let mut stream = TcpStream::connect_timeout(&target, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: rum-healthcheck\r\nConnection: close\r\n\r\n"
    )?;
    // The status line is all that is needed ("HTTP/1.1 200 OK"); /healthz and /readyz answers are
    // a few hundred bytes at most, so one bounded read of the start is enough.
    let mut head = [0u8; 64];
    let mut filled = 0;
    while filled < head.len() {
        let read = stream.read(&mut head[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
        if head[..filled].contains(&b'\n') {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head[..filled]);
    line.split_whitespace()
        .nth(1)
        .filter(|_| line.starts_with("HTTP/1."))
        .map(str::to_owned)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not an HTTP answer: {line:?}"),
            )
        })
}
