//! A blocking HTTP/1.1 request with the headers a test chooses, for the endpoints no SDK
//! client of the tests speaks: moto's EventBridge (JSON protocol, `X-Amz-Target`) and
//! EventBridge Scheduler (REST JSON), and the Lambda emulator's Invoke API (whose answer
//! headers say whether the function failed).

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    /// The first header of that name (compared ignoring case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// `POST path` to 127.0.0.1:`port`, the connection closed after the answer.
pub fn post(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    wait: Duration,
) -> Response {
    request(port, "POST", path, headers, body, wait)
}

/// `method path` to 127.0.0.1:`port`, the connection closed after the answer.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    wait: Duration,
) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {response}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}
