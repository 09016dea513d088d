//! Shared harness for the real-peer tests (`tests/sipp-*.rs`, `tests/trunk-carrier.rs`,
//! `tests/baresip-call.rs`): runs the `switchyard` binary on a private configuration in a
//! temporary directory and drives SIPp, sipsak and baresip against it, all on 127.0.0.1.
//!
//! - Every test file has its own port range (sipp-calls 15100-15199, sipp-register
//!   15200-15299, trunk-carrier 15300-15399, baresip-call 15400-15499) and every test in a
//!   file its own slice of it, so tests running in parallel never collide.
//! - The binary is `$SWITCHYARD_BIN` when set (scripts/test.sh points it at the release
//!   build), else the one cargo built for this test run.
//! - A missing peer program is a test failure that says to run `scripts/setup.sh`: skipping
//!   would hide a broken install.
//! - Failure messages carry the tail of the switch's log and the peers' error output; on a
//!   failure (or with `SWITCHYARD_KEEP_TEST_DIRS=1`) the temporary directory is kept and its
//!   path printed.

#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Every peer and the switch run on this address.
pub const HOST: &str = "127.0.0.1";

/// How long the switch gets to answer OPTIONS after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Fails the test unless `program` is on PATH.
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(program))))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed (or not on PATH). The peer tests need SIPp, sipsak and \
         baresip: run `scripts/setup.sh` as root (it installs sip-tester, sipsak, baresip-core, ...)"
    );
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `tests/peers/`: SIPp scenarios.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("peers")
}

/// A scenario file under `tests/peers/`.
pub fn scenario(name: &str) -> PathBuf {
    let p = peers_dir().join(name);
    assert!(p.is_file(), "missing scenario {}", p.display());
    p
}

/// The switch binary under test.
pub fn switch_bin() -> PathBuf {
    match std::env::var_os("SWITCHYARD_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_switchyard")),
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `text` without ANSI colour sequences (tracing colours its output on a terminal).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads a file, lossily, "" if it does not exist.
pub fn read_lossy(p: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(p) {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Polls `f` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until something has UDP `port` of 127.0.0.1 bound (TCP with `tcp`), found by
/// failing to bind it. Used to start a peer before the switch talks to it.
pub fn wait_port_taken(port: u16, tcp: bool, timeout: Duration) -> bool {
    wait_until(timeout, || {
        if tcp {
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err()
        } else {
            UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err()
        }
    })
}

// ------------------------------------------------------------------------------------------
// The switch
// ------------------------------------------------------------------------------------------

/// A running switch with its own configuration, data directory and log, in a temporary
/// directory. Stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Switch {
    dir: Option<TempDir>,
    path: PathBuf,
    child: Option<Child>,
    /// SIP port (UDP and TCP) on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    /// The configuration file as written.
    pub config: String,
}

impl Switch {
    /// Writes a configuration listening on UDP and TCP `127.0.0.1:port` with `sections` (users,
    /// trunks, routes...) appended, starts the switch, and waits until it answers OPTIONS.
    pub fn start(port: u16, sections: &str) -> Switch {
        Switch::start_with(port, "", sections)
    }

    /// As `start`, with `server` lines added to the `[server]` table (e.g. `dialplan = …`).
    pub fn start_with(port: u16, server: &str, sections: &str) -> Switch {
        let dir = tempfile::Builder::new().prefix("switchyard-peer-").tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        let data_dir = path.join("data");
        let config = format!(
            "# Written by tests/common/mod.rs\n\
             [server]\n\
             udp = [\"{HOST}:{port}\"]\n\
             tcp = [\"{HOST}:{port}\"]\n\
             domain = \"switchyard.test\"\n\
             data_dir = \"{}\"\n\
             {server}\n\
             \n\
             [limits]\n\
             drain_timeout_s = 1\n\
             \n\
             [log]\n\
             level = \"info\"\n\
             \n\
             {sections}\n",
            data_dir.display()
        );
        // Each test file's switch gets its own RTP ports, so that switches
        // running side by side never compete for one.
        let config = if sections.contains("[media]") {
            config
        } else {
            // Switch ports are 15000..15999 and at least 2 apart: 80 RTP
            // ports (20 calls) each, from 10000 up.
            let min = 10000 + (u32::from(port).saturating_sub(15000) % 1000) * 40;
            format!("{config}\n[media]\nport_min = {min}\nport_max = {}\n", min + 79)
        };
        let config_path = path.join("switchyard.toml");
        fs::write(&config_path, &config).expect("write config");
        let log = path.join("switchyard.log");
        let out = File::create(&log).expect("create log");
        let err = out.try_clone().expect("dup log");
        let bin = switch_bin();
        assert!(
            bin.is_file(),
            "switch binary {} not found (build it: cargo build --release --bins, or unset SWITCHYARD_BIN)",
            bin.display()
        );
        let child = Command::new(&bin)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .current_dir(&path)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut sw = Switch {
            dir: Some(dir),
            path,
            child: Some(child),
            port,
            log,
            config,
        };
        sw.wait_ready();
        sw
    }

    fn wait_ready(&mut self) {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind probe socket");
        sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let dest = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let local = sock.local_addr().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        let mut n = 0u32;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("the switch exited during start-up ({status})\n{}", self.diag());
            }
            n += 1;
            let msg = format!(
                "OPTIONS sip:{HOST}:{port} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {local};branch=z9hG4bK-probe-{pid}-{n}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:probe@{local}>;tag=probe{n}\r\n\
                 To: <sip:{HOST}:{port}>\r\n\
                 Call-ID: probe-{pid}-{n}@{HOST}\r\n\
                 CSeq: {n} OPTIONS\r\n\
                 Accept: application/sdp\r\n\
                 Content-Length: 0\r\n\r\n",
                port = self.port,
                pid = std::process::id(),
            );
            let _ = sock.send_to(msg.as_bytes(), dest);
            let mut buf = [0u8; 4096];
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                match sock.recv_from(&mut buf) {
                    Ok((len, _)) => {
                        let text = String::from_utf8_lossy(&buf[..len]).into_owned();
                        if text.starts_with("SIP/2.0 200") {
                            return;
                        }
                        last = text;
                    }
                    Err(_) => break,
                }
            }
        }
        panic!(
            "the switch did not answer OPTIONS with 200 on udp {HOST}:{} within {START_TIMEOUT:?}; last answer: {:?}\n{}",
            self.port,
            tail(&last, 3),
            self.diag()
        );
    }

    /// The switch's process id, to signal it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The temporary directory of this switch (config, data, logs of the peers).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// The switch's log so far, without colour codes.
    pub fn log(&self) -> String {
        strip_ansi(&read_lossy(&self.log))
    }

    /// Lines of the log for which `pred` holds.
    pub fn log_lines(&self, pred: impl Fn(&str) -> bool) -> Vec<String> {
        self.log().lines().filter(|l| pred(l)).map(str::to_owned).collect()
    }

    /// Waits until a log line satisfies `pred`.
    pub fn wait_log(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        wait_until(timeout, || self.log().lines().any(&pred))
    }

    /// Waits until at least `count` log lines satisfy `pred`.
    pub fn wait_log_count(&self, timeout: Duration, count: usize, pred: impl Fn(&str) -> bool) -> bool {
        wait_until(timeout, || self.log().lines().filter(|l| pred(l)).count() >= count)
    }

    /// For assertion messages: where the files are and the end of the switch's log.
    pub fn diag(&self) -> String {
        format!(
            "--- switch log ({}), last 60 lines ---\n{}\n--- end of switch log ---",
            self.log.display(),
            tail(&self.log(), 60)
        )
    }

    /// Stops the switch (SIGTERM, up to 5 s, then SIGKILL); idempotent.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        terminate(&mut child, Duration::from_secs(5))
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.stop();
        let keep = std::env::var_os("SWITCHYARD_KEEP_TEST_DIRS").is_some_and(|v| !v.is_empty() && v != "0");
        if thread::panicking() || keep {
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("switch files kept in {}", kept.display());
            }
        }
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL.
fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().ok()
}

// ------------------------------------------------------------------------------------------
// SIPp
// ------------------------------------------------------------------------------------------

/// Hard limit on one SIPp run, on top of its own `-timeout`.
pub const SIPP_HARD_TIMEOUT: Duration = Duration::from_secs(45);

/// A SIPp command line being put together. Files (statistics, errors, messages, logs) go
/// to `dir` under `name`.
pub struct Sipp {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
}

/// SIPp's outcome: exit code, final call counts from the `-trace_stat` CSV, and its files.
pub struct SippResult {
    pub name: String,
    pub status: Option<ExitStatus>,
    /// Killed by the harness after [`SIPP_HARD_TIMEOUT`].
    pub hard_timeout: bool,
    pub successful: Option<u64>,
    pub failed: Option<u64>,
    /// `-trace_err` file.
    pub errors: String,
    /// `-trace_logs` file (`<log>` actions of the scenarios).
    pub logs: String,
    /// `-trace_msg` file: every message sent and received.
    pub messages: String,
    /// SIPp's stdout/stderr (its screen).
    pub screen: String,
}

impl Sipp {
    /// SIPp running `scenario` (a path), bound to 127.0.0.1:`port`, its control socket on
    /// `ctrl_port` and media on `media_port` (both unique per instance, so parallel tests do
    /// not fight over SIPp's defaults 8888 and 6000).
    pub fn new(name: &str, dir: &Path, scenario: &Path, port: u16, ctrl_port: u16, media_port: u16) -> Sipp {
        require("sipp");
        let p = |f: &str| dir.join(format!("{name}.{f}")).display().to_string();
        let mut args: Vec<String> = vec!["-sf".into(), scenario.display().to_string()];
        for a in [
            "-i",
            HOST,
            "-p",
            &port.to_string(),
            "-cp",
            &ctrl_port.to_string(),
            "-mi",
            HOST,
            "-mp",
            &media_port.to_string(),
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
            "-trace_stat",
            "-stf",
            &p("stat.csv"),
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            &p("errors.log"),
            "-trace_msg",
            "-message_file",
            &p("messages.log"),
            "-trace_logs",
            "-log_file",
            &p("logs.log"),
        ] {
            args.push(a.to_owned());
        }
        Sipp {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            args,
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Sipp
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args.extend(args.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Starts SIPp in the background (a UAS waiting for calls).
    pub fn spawn(self) -> RunningSipp {
        let out = File::create(self.dir.join(format!("{}.screen.log", self.name))).expect("sipp screen file");
        let err = out.try_clone().unwrap();
        let child = Command::new("sipp")
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sipp: {e}"));
        RunningSipp {
            sipp: self,
            child: Some(child),
            started: Instant::now(),
        }
    }

    /// Runs SIPp to completion (a UAC).
    pub fn run(self) -> SippResult {
        self.spawn().wait()
    }
}

/// A SIPp process; killed if dropped before [`RunningSipp::wait`].
pub struct RunningSipp {
    sipp: Sipp,
    child: Option<Child>,
    started: Instant,
}

impl RunningSipp {
    /// Waits for SIPp to exit (at most [`SIPP_HARD_TIMEOUT`] after its start) and collects
    /// its results.
    pub fn wait(self) -> SippResult {
        self.wait_within(SIPP_HARD_TIMEOUT)
    }

    /// As [`RunningSipp::wait`], for scenarios meant to run longer than the usual limit.
    #[allow(dead_code)]
    pub fn wait_within(mut self, limit: Duration) -> SippResult {
        let mut child = self.child.take().unwrap();
        let deadline = self.started + limit;
        let mut status = None;
        let mut hard_timeout = false;
        while status.is_none() {
            match child.try_wait() {
                Ok(Some(st)) => status = Some(st),
                Ok(None) if Instant::now() >= deadline => {
                    hard_timeout = true;
                    status = terminate(&mut child, Duration::from_secs(2));
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        let name = self.sipp.name.clone();
        let file = |f: &str| read_lossy(&self.sipp.dir.join(format!("{name}.{f}")));
        let stat = file("stat.csv");
        let (successful, failed) = parse_stat(&stat);
        SippResult {
            name: name.clone(),
            status,
            hard_timeout,
            successful,
            failed,
            errors: file("errors.log"),
            logs: file("logs.log"),
            messages: file("messages.log"),
            screen: file("screen.log"),
        }
    }
}

impl Drop for RunningSipp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, Duration::from_secs(1));
        }
    }
}

/// Cumulative successful and failed calls from the last line of a `-trace_stat` CSV
/// (columns `SuccessfulCall(C)` and `FailedCall(C)`, `;`-separated).
pub fn parse_stat(csv: &str) -> (Option<u64>, Option<u64>) {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return (None, None);
    };
    let Some(last) = lines.last() else {
        return (None, None);
    };
    let cols: Vec<&str> = header.split(';').collect();
    let vals: Vec<&str> = last.split(';').collect();
    let get = |name: &str| {
        let i = cols.iter().position(|c| c.trim() == name)?;
        vals.get(i)?.trim().parse::<u64>().ok()
    };
    (get("SuccessfulCall(C)"), get("FailedCall(C)"))
}

impl SippResult {
    /// The exit code (None when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Asserts that exactly `ok` calls succeeded and none failed, SIPp exited 0, and it was
    /// not killed by the harness. `ctx` is added to the failure message (the switch's log).
    pub fn assert_calls(&self, ok: u64, ctx: &str) {
        let good = !self.hard_timeout && self.code() == Some(0) && self.successful == Some(ok) && self.failed == Some(0);
        assert!(
            good,
            "SIPp `{}`: expected {ok} successful and 0 failed calls with exit code 0, got \
             successful={:?} failed={:?} exit={:?}{}\n{}\n{ctx}",
            self.name,
            self.successful,
            self.failed,
            self.status,
            if self.hard_timeout { " (killed: hard timeout)" } else { "" },
            self.report(),
        );
    }

    /// SIPp's errors, the end of its screen and of its message trace, for failure messages.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let errors: Vec<&str> = self
            .errors
            .split("\n")
            .flat_map(|l| l.split('\u{0}'))
            // The UAC's "wait for a late 180" timeout is expected, not an error.
            .filter(|l| !(l.contains("receive timeout on message") && l.contains("jumping to label")))
            .collect();
        let errors = errors.join("\n");
        let _ = writeln!(s, "--- sipp `{}` errors (last 30 lines) ---\n{}", self.name, tail(&errors, 30));
        let _ = writeln!(s, "--- sipp `{}` screen (last 25 lines) ---\n{}", self.name, tail(&self.screen, 25));
        let _ = writeln!(
            s,
            "--- sipp `{}` messages (last 60 lines) ---\n{}",
            self.name,
            tail(&self.messages, 60)
        );
        s
    }

    /// Values logged by the scenario with `<log message="KEY value"/>`.
    pub fn logged(&self, key: &str) -> Vec<String> {
        let prefix = format!("{key} ");
        self.logs
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.trim().to_owned())
            .collect()
    }
}

/// Asserts that no Call-ID logged by one leg (`a_key` in `a`) was also seen on the other
/// (`b_key` in `b`): a B2BUA makes new dialogs on its B legs.
pub fn assert_call_ids_differ(a: &SippResult, a_key: &str, b: &SippResult, b_key: &str, ctx: &str) {
    let a_ids: HashSet<String> = a.logged(a_key).into_iter().collect();
    let b_ids: HashSet<String> = b.logged(b_key).into_iter().collect();
    assert!(
        !a_ids.is_empty() && !b_ids.is_empty(),
        "no Call-IDs logged: {} / {}\n{ctx}",
        a.logs.len(),
        b.logs.len()
    );
    let shared: Vec<&String> = a_ids.intersection(&b_ids).collect();
    assert!(shared.is_empty(), "Call-IDs reused across the B2BUA's legs: {shared:?}\n{ctx}");
}

// ------------------------------------------------------------------------------------------
// Other peers
// ------------------------------------------------------------------------------------------

/// Runs `cmd` with a hard timeout; returns (exit status, stdout+stderr).
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> (Option<ExitStatus>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("out");
    let out = File::create(&out_path).unwrap();
    let err = out.try_clone().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => {
                // Timed out: reported as no exit status.
                terminate(&mut child, Duration::from_secs(1));
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    (status, read_lossy(&out_path))
}

/// Sends one netstring-framed JSON command to a baresip `ctrl_tcp` socket and returns the
/// response whose `"response":true` object answers it (events in between are skipped).
pub fn baresip_command(port: u16, command: &str, params: Option<&str>, timeout: Duration) -> io::Result<String> {
    let token = format!("t{}", fastrand::u32(..));
    let mut json = format!("{{\"command\":\"{command}\",\"token\":\"{token}\"");
    if let Some(p) = params {
        let _ = write!(json, ",\"params\":\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\""));
    }
    json.push('}');
    let mut s = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout)?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    s.write_all(format!("{}:{},", json.len(), json).as_bytes())?;
    let deadline = Instant::now() + timeout;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Parse complete netstrings from the buffer.
        while let Some(colon) = buf.iter().position(|&b| b == b':') {
            let Ok(len) = std::str::from_utf8(&buf[..colon]).unwrap_or("x").parse::<usize>() else {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad netstring from baresip"));
            };
            if buf.len() < colon + 1 + len + 1 {
                break;
            }
            let msg = String::from_utf8_lossy(&buf[colon + 1..colon + 1 + len]).into_owned();
            buf.drain(..colon + 1 + len + 1);
            if msg.contains("\"response\":true") && msg.contains(&token) {
                return Ok(msg);
            }
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer from baresip ctrl_tcp"));
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "baresip closed ctrl_tcp"));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes a mono 16-bit 8 kHz WAV: a 440 Hz tone of `secs` seconds (the baresip `aufile`
/// source; the call would end when the file ends, so make it longer than the call).
pub fn write_tone_wav(path: &Path, secs: u32) {
    let rate = 8000u32;
    let tone: Vec<i16> = (0..rate * secs)
        .map(|i| ((f64::from(i) / f64::from(rate) * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16)
        .collect();
    switchyard::media::wav::write(path, &tone, rate).expect("write wav");
}

/// MD5 as lowercase hex.
pub fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    Md5::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of `name` in a digest credentials header (`Digest a="b", c=d`).
pub fn digest_param(header: &str, name: &str) -> Option<String> {
    let body = header.trim().strip_prefix("Digest").unwrap_or(header).trim();
    let mut rest = body;
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().trim_start_matches(',').trim();
        let after = rest[eq + 1..].trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value.to_owned());
        }
        rest = next.trim_start().trim_start_matches(',');
    }
    None
}

/// Checks an RFC 2617 / RFC 3261 MD5 digest `Authorization`/`Proxy-Authorization` value for
/// `method`; Err says what is wrong.
pub fn check_md5_digest(header: &str, method: &str, user: &str, password: &str) -> Result<(), String> {
    let p = |n: &str| digest_param(header, n).ok_or_else(|| format!("no {n} in {header:?}"));
    let username = p("username")?;
    if username != user {
        return Err(format!("username {username:?}, expected {user:?}"));
    }
    let realm = p("realm")?;
    let nonce = p("nonce")?;
    let uri = p("uri")?;
    let response = p("response")?;
    if let Some(alg) = digest_param(header, "algorithm") {
        if !alg.eq_ignore_ascii_case("MD5") {
            return Err(format!("algorithm {alg}, expected MD5"));
        }
    }
    let ha1 = md5_hex(&format!("{username}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let expected = match digest_param(header, "qop") {
        Some(qop) => {
            let nc = p("nc")?;
            let cnonce = p("cnonce")?;
            md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    };
    if response.eq_ignore_ascii_case(&expected) {
        Ok(())
    } else {
        Err(format!(
            "digest response {response} is wrong (expected {expected} for password {password:?})"
        ))
    }
}
