//! The one HTTP/1.1 client of the tests: a request on a fresh connection (`Connection: close`),
//! read to the end, with chunked bodies decoded. Plain std, so a test sees exactly the bytes a
//! server sent.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a request may wait for its answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Lowercase names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("response is not JSON ({error}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// One request; `None` when nothing accepts the connection or no response head comes back.
pub fn try_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Option<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    // The server may answer early (e.g. 413 on Content-Length) and close: that is not an error.
    let _early_answer = stream.write_all(body);
    try_read_response(stream)
}

/// [`try_request`] that must be answered.
pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> HttpResponse {
    try_request(address, method, path, headers, body)
        .unwrap_or_else(|| panic!("no HTTP answer from {address} to {method} {path}"))
}

/// A `Content-Length` body with `Content-Type: application/json` (what the services' APIs want).
pub fn json_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> Option<HttpResponse> {
    try_request(
        address,
        method,
        path,
        &[
            ("Content-Type", "application/json".to_owned()),
            ("Content-Length", body.len().to_string()),
        ],
        body,
    )
}

/// Reads a whole response from a stream the caller wrote a request to.
pub fn read_response(stream: TcpStream) -> HttpResponse {
    try_read_response(stream).expect("an HTTP response head")
}

fn try_read_response(mut stream: TcpStream) -> Option<HttpResponse> {
    let mut raw = Vec::new();
    // A reset after the answer (the server closed first) still leaves the answer in `raw`.
    let _reset = stream.read_to_end(&mut raw);
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|encoding| encoding.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    Some(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = raw.windows(2).position(|window| window == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        body.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    body
}
