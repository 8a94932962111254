//! Test harness for the Lambda edge: a real local AWS endpoint (moto in server mode) and
//! a small fake for what moto lacks (`tests/fakes/aws_fake.py`: Backup restore-job reads,
//! sts:DecodeAuthorizationMessage, KMS failure injection, SNS https deliveries).
//!
//! One moto and one fake serve every test of a test binary; each test uses its own
//! resource names ([`unique`]). Both processes watch their standard input and exit when
//! the test binary does, even if it is killed; [`Service`]'s `Drop` stops them too.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod cli;
pub mod emulator;
pub mod org;
pub mod readiness;
pub mod scenario;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::config::Credentials;
use restore_doctor::aws::{Clients, EndpointOverrides};
use serde_json::Value;

pub const REGION: &str = "eu-west-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

/// The crate root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool installed by `make setup` (`RESTORE_DOCTOR_TOOLS`, else `.venv/bin`).
pub fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("RESTORE_DOCTOR_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin"));
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make setup` (installs moto, cfn-lint, the SAM CLI and cargo-lambda into .venv)",
        path.display()
    );
    path
}

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xffff)
}

/// A GUID no other test uses (CloudTrail `eventID`s are GUIDs, and the function checks).
pub fn unique_guid() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed) as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        std::process::id(),
        n & 0xffff,
        (nanos >> 12) & 0xfff,
        nanos & 0xfff,
        nanos & 0xffff_ffff_ffff
    )
}

/// A child process that lives as long as its standard input is open.
pub struct Service {
    child: Child,
    stdin: Option<ChildStdin>,
    pub port: u16,
    pub url: String,
    pub log: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        stop(&mut self.child, &mut self.stdin, Duration::from_secs(5));
    }
}

/// Stops a helper process started with a piped stdin: closing stdin asks it to exit;
/// after `grace` it is killed.
pub fn stop(child: &mut Child, stdin: &mut Option<ChildStdin>, grace: Duration) {
    drop(stdin.take());
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// moto, the fake, and a scratch directory.
pub struct Stack {
    pub moto: Service,
    pub fake: Service,
    /// The fake's TLS port (SNS `https` subscriptions), and the CA moto trusts.
    pub fake_tls_port: u16,
    pub dir: PathBuf,
}

/// The stack shared by the tests of this binary, started on first use.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let dir = std::env::temp_dir().join(unique("restore-doctor-tests"));
        std::fs::create_dir_all(&dir).unwrap();
        let (fake, tls_port, ca) = start_fake(&dir);
        let moto = start_moto(&dir, &ca);
        Stack {
            moto,
            fake,
            fake_tls_port: tls_port,
            dir,
        }
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Lines a child prints on stdout, until `want` lines or the timeout.
fn read_lines(stdout: impl Read + Send + 'static, want: usize, timeout: Duration) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    while lines.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    lines
}

fn start_fake(dir: &Path) -> (Service, u16, PathBuf) {
    let log = dir.join("aws-fake.log");
    let mut child = Command::new(tool("python"))
        .arg(root().join("tests/fakes/aws_fake.py"))
        .arg("--tls-dir")
        .arg(dir.join("tls"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting tests/fakes/aws_fake.py");
    let stdout = child.stdout.take().unwrap();
    let lines = read_lines(stdout, 2, Duration::from_secs(60));
    let port: u16 = lines
        .iter()
        .find_map(|l| l.strip_prefix("PORT "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "the fake did not start: {lines:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
    let (tls_port, ca) = lines
        .iter()
        .find_map(|l| l.strip_prefix("TLS_PORT "))
        .and_then(|rest| {
            let (port, ca) = rest.split_once(" CA ")?;
            Some((port.trim().parse().ok()?, PathBuf::from(ca.trim())))
        })
        .unwrap_or_else(|| panic!("the fake did not start TLS: {lines:?}"));
    let stdin = child.stdin.take();
    (
        Service {
            child,
            stdin,
            port,
            url: format!("http://127.0.0.1:{port}"),
            log,
        },
        tls_port,
        ca,
    )
}

fn start_moto(dir: &Path, ca: &Path) -> Service {
    let moto = tool("moto_server");
    let mut last = String::new();
    for attempt in 0..3 {
        let port = free_port();
        let log = dir.join(format!("moto-{attempt}.log"));
        // `sh` keeps moto only while our stdin pipe is open.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
            .arg("sh")
            .arg(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("REQUESTS_CA_BUNDLE", ca)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting moto_server");
        let stdin = child.stdin.take();
        let service = Service {
            child,
            stdin,
            port,
            url: format!("http://127.0.0.1:{port}"),
            log: log.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok((200, _)) = http(port, "GET", "/moto-api/", None) {
                return service;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        last = std::fs::read_to_string(&log).unwrap_or_default();
    }
    panic!("moto did not start on 127.0.0.1 after 3 attempts:\n{last}");
}

/// A tiny blocking HTTP/1.1 client for the control endpoints.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let content = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, content))
}

impl Stack {
    /// SDK configuration pointing at moto, with fake credentials and no retries.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_with(RetryConfig::standard().with_max_attempts(1))
            .await
    }

    pub async fn sdk_config_with(&self, retry: RetryConfig) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .endpoint_url(&self.moto.url)
            .retry_config(retry)
            .load()
            .await
    }

    /// Overrides for the services moto lacks: Backup and STS go to the fake.
    pub fn overrides(&self) -> EndpointOverrides {
        EndpointOverrides {
            backup: Some(self.fake.url.clone()),
            sts: Some(self.fake.url.clone()),
            ..EndpointOverrides::default()
        }
    }

    pub async fn clients(&self) -> Clients {
        Clients::with_overrides(&self.sdk_config().await, &self.overrides())
    }

    /// Adds restore jobs, vaults, tokens or keys to the fake.
    pub fn fake_scenario(&self, scenario: &Value) {
        let (status, body) = http(
            self.fake.port,
            "POST",
            "/_fake/scenario",
            Some(&scenario.to_string()),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
    }

    /// The operations the fake served for `key` (a job id, vault name, ARN or token).
    pub fn fake_requests(&self, operation: &str, key: &str) -> usize {
        let (_, body) = http(self.fake.port, "GET", "/_fake/requests", None).unwrap();
        let all: Vec<Value> = serde_json::from_str(&body).unwrap();
        all.iter()
            .filter(|r| r["operation"] == operation && r["key"] == key)
            .count()
    }

    /// How many operations the fake served so far.
    pub fn fake_request_count(&self) -> usize {
        let (_, body) = http(self.fake.port, "GET", "/_fake/requests", None).unwrap();
        serde_json::from_str::<Vec<Value>>(&body).unwrap().len()
    }

    /// The restore jobs the fake's StartRestoreJob created (one per idempotency token).
    pub fn started_restore_jobs(&self) -> Vec<Value> {
        let (_, body) = http(self.fake.port, "GET", "/_fake/started-restore-jobs", None).unwrap();
        serde_json::from_str(&body).unwrap()
    }

    /// SNS http(s) deliveries the fake received on `/_fake/sns/{name}`.
    pub fn sns_deliveries(&self, name: &str) -> Vec<Value> {
        let (_, body) = http(self.fake.port, "GET", &format!("/_fake/sns/{name}"), None).unwrap();
        serde_json::from_str(&body).unwrap()
    }
}
