//! The built `restore-doctor-lambda` binary under the Lambda runtime API emulator
//! (`cargo-lambda lambda watch --only-lambda-apis`), its AWS calls going to the test
//! stack (moto and the fake). Shared by the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{root, tool, unique, Stack, REGION};

/// A process that lives as long as the test: `sh` kills it when its stdin closes.
pub struct Guarded {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        super::stop(&mut self.child, &mut self.stdin, Duration::from_secs(10));
    }
}

/// Starts `program` under a guard, its output in `log` and `log.err`.
pub fn guarded(program: &Path, args: &[&str], env: &[(&str, String)], log: &Path) -> Guarded {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#""$@" & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid"#)
        .arg("sh")
        .arg(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take();
    Guarded { child, stdin }
}

/// Waits until something listens on `port`, or fails with the process's log.
pub fn wait_for_port(port: u16, timeout: Duration, what: &str, log: &Path) {
    let deadline = Instant::now() + timeout;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "{what} did not listen on {port} within {timeout:?}:\n{}\n{}",
        std::fs::read_to_string(log).unwrap_or_default(),
        std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
    );
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The emulator on a free port, listening; its log is `dir/watch.log`.
pub fn start_emulator(dir: &Path) -> (Guarded, u16) {
    let port = free_port();
    let log = dir.join("watch.log");
    let watch = guarded(
        &tool("cargo-lambda"),
        &[
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ],
        &[],
        &log,
    );
    wait_for_port(port, Duration::from_secs(120), "cargo-lambda watch", &log);
    (watch, port)
}

/// The Lambda binary `cargo test` built, attached to the emulator on `port`, publishing
/// to `topic_arn`; its log (stdout) is `log`.
pub fn start_function(
    stack: &Stack,
    port: u16,
    topic_arn: &str,
    version: &str,
    log: &Path,
) -> Guarded {
    start_function_with(stack, port, topic_arn, version, log, &[])
}

/// [`start_function`] with `extra` environment set after the usual one (so it wins):
/// organization mode's settings, another STS endpoint.
pub fn start_function_with(
    stack: &Stack,
    port: u16,
    topic_arn: &str,
    version: &str,
    log: &Path,
    extra: &[(&str, String)],
) -> Guarded {
    let mut env = vec![
        ("AWS_LAMBDA_FUNCTION_NAME", "_".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", version.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
        (
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        ),
        ("TOPIC_ARN", topic_arn.to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_ENDPOINT_URL", stack.moto.url.clone()),
        ("AWS_ENDPOINT_URL_BACKUP", stack.fake.url.clone()),
        ("AWS_ENDPOINT_URL_STS", stack.fake.url.clone()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    let binary = Path::new(env!("CARGO_BIN_EXE_restore-doctor-lambda"));
    guarded(binary, &[], &env, log)
}

/// The JSON lines of a process's log (the function's Powertools-style log and EMF
/// metrics); other lines are skipped.
pub fn json_lines(log: &Path) -> Vec<serde_json::Value> {
    BufReader::new(std::fs::File::open(log).unwrap())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// `cargo-lambda lambda invoke` of the function on `port` with `event` (written to a file
/// in `dir`): the process's output, whether the invocation succeeded or not.
pub fn invoke_raw(port: u16, event: &serde_json::Value, dir: &Path) -> Output {
    let file = dir.join(format!("{}.json", unique("event")));
    std::fs::write(&file, event.to_string()).unwrap();
    Command::new(tool("cargo-lambda"))
        .args([
            "lambda",
            "invoke",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .arg("--data-file")
        .arg(&file)
        .args(["--output-format", "json", "_"])
        .current_dir(root())
        .output()
        .unwrap()
}

/// The function's response to `event`; the invocation must succeed.
pub fn invoke(port: u16, event: &serde_json::Value, dir: &Path) -> serde_json::Value {
    let out = invoke_raw(port, event, dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "invoke failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}
