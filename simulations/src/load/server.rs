//! The server under load: the real `settled` binary as a child process on a
//! loopback port it binds itself (port 0) and names in its log (development
//! mode, so that the data dir holds a token with every role and the issuer
//! keys), or a server already running.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use settled::Keypair;
use settled::client::Client;
use settled::config::{DEV_ISSUERS, DEV_TOKEN_FILE};

use super::LoadError;

/// How long a spawned server may take to answer `GetInfo` (opening a large
/// ledger included).
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopping server may take to finish what it admitted before it
/// is killed.
pub const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// What of the server's log an error message quotes.
const LOG_TAIL_BYTES: usize = 2048;
/// The server's output, in its data dir.
pub const LOG_FILE: &str = "load-server.log";

/// Where the load connects, as whom, with which issuer keys (for mints).
#[derive(Clone)]
pub struct Target {
    /// `http://host:port`.
    pub url: String,
    /// Every replica of a cluster (`http://host:port` each, `url` among
    /// them): the load finds the leader, and each terminal follows it when
    /// it moves. Empty for one server.
    pub replicas: Vec<String>,
    /// Bearer token with the operator, issuer and terminal roles.
    pub token: String,
    /// Issuer secret keys; at least the ledger's threshold of them.
    pub issuers: Vec<Keypair>,
    /// The server's process, for its CPU use; `None` when unknown.
    pub pid: Option<u32>,
}

impl Target {
    /// Reads issuer keys (hex secrets, one per file).
    ///
    /// # Errors
    /// An unreadable file or not a secret key.
    pub fn read_issuer_keys(files: &[PathBuf]) -> Result<Vec<Keypair>, LoadError> {
        files
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| LoadError::Options(format!("issuer key {}: {e}", file.display())))?;
                Keypair::from_secret_hex(&text).map_err(|e| LoadError::Options(format!("{}: {e}", file.display())))
            })
            .collect()
    }
}

/// A `settled serve --dev` child process. Dropping it kills the process.
pub struct SpawnedServer {
    child: Option<Child>,
    bin: PathBuf,
    data_dir: PathBuf,
    // Declared last: removed after the child is gone.
    _temp: Option<tempfile::TempDir>,
}

impl SpawnedServer {
    /// Starts `bin serve --dev` over `data_dir` (a temporary directory when
    /// `None`) and waits until it answers `GetInfo`.
    ///
    /// # Errors
    /// No such binary, no free port, or a server that exits or does not
    /// answer within `SERVER_START_TIMEOUT` (with the tail of its log).
    pub async fn start(bin: &Path, data_dir: Option<PathBuf>) -> Result<(Self, Target), LoadError> {
        if !bin.is_file() {
            return Err(LoadError::Server(format!(
                "no settled binary at {}: build it with `cargo build --release -p settled`, or pass --settled-bin \
                 (or --server for a running server)",
                bin.display()
            )));
        }
        let (temp, data_dir) = match data_dir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("settled-load-")
                    .tempdir()
                    .map_err(|e| LoadError::Server(format!("temporary data dir: {e}")))?;
                let dir = temp.path().to_owned();
                (Some(temp), dir)
            }
        };
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| LoadError::Server(format!("data dir {}: {e}", data_dir.display())))?;
        let log_path = data_dir.join(LOG_FILE);
        let log = std::fs::File::create(&log_path)
            .map_err(|e| LoadError::Server(format!("server log {}: {e}", log_path.display())))?;
        let log_err = log.try_clone().map_err(|e| LoadError::Server(format!("server log: {e}")))?;
        let child = Command::new(bin)
            .arg("serve")
            .arg("--dev")
            .arg("--data-dir")
            .arg(&data_dir)
            // The server binds a free port itself and names it in its log:
            // no port chosen here that another process could take first.
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| LoadError::Server(format!("starting {}: {e}", bin.display())))?;
        let pid = child.id();
        let mut server = Self { child: Some(child), bin: bin.to_owned(), data_dir, _temp: temp };
        let (listen, token) = server.wait_ready().await?;
        let url = format!("http://{listen}");
        println!("started {} serve --dev (pid {pid}) on {listen} over {}", bin.display(), server.data_dir.display());
        let issuers = (1..=DEV_ISSUERS).map(|i| server.data_dir.join(format!("issuer-{i}.key"))).collect::<Vec<_>>();
        let issuers = Target::read_issuer_keys(&issuers)?;
        Ok((server, Target { url, replicas: Vec::new(), token, issuers, pid: Some(pid) }))
    }

    #[must_use]
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Polls until the log names the address the server listens on, the
    /// token file exists and `GetInfo` answers with it; the address and the
    /// token.
    async fn wait_ready(&mut self) -> Result<(SocketAddr, String), LoadError> {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        let token_file = self.data_dir.join(DEV_TOKEN_FILE);
        let mut last_error = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(LoadError::Server(format!(
                    "the server exited ({status}) before answering; its log:\n{}",
                    self.log_tail()
                )));
            }
            let log = std::fs::read_to_string(self.data_dir.join(LOG_FILE)).unwrap_or_default();
            if let (Some(listen), Ok(token)) = (listening_on(&log), std::fs::read_to_string(&token_file)) {
                let token = token.trim().to_owned();
                match Client::connect_with_token(&format!("http://{listen}"), &token).await {
                    Ok(mut client) => match client.info(false).await {
                        Ok(_) => return Ok((listen, token)),
                        Err(status) => last_error = format!("GetInfo: {status}"),
                    },
                    Err(e) => last_error = format!("connect: {e}"),
                }
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        Err(LoadError::Server(format!(
            "the server did not answer within {SERVER_START_TIMEOUT:?} ({last_error}); its log:\n{}",
            self.log_tail()
        )))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read(self.data_dir.join(LOG_FILE)).unwrap_or_default();
        let start = text.len().saturating_sub(LOG_TAIL_BYTES);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// Asks the server to stop (SIGTERM: it finishes what it admitted and
    /// closes the ledger cleanly, so that the data dir can be reused) and
    /// kills it after `SERVER_STOP_TIMEOUT`.
    ///
    /// # Errors
    /// A server that had to be killed, or that exited with a failure.
    pub async fn stop(mut self) -> Result<(), LoadError> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        terminate(child.id());
        let deadline = Instant::now() + SERVER_STOP_TIMEOUT;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(LoadError::Server(format!(
                        "the server exited with {status} when stopped; its log:\n{}",
                        self.log_tail()
                    )));
                }
                Ok(None) => tokio::time::sleep(POLL_INTERVAL).await,
                Err(e) => return Err(LoadError::Server(format!("waiting for the server: {e}"))),
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(LoadError::Server(format!("the server did not stop within {SERVER_STOP_TIMEOUT:?} and was killed")))
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What `settled serve` prints once it listens.
const LISTENING: &str = "settled serving on ";

/// The address a server's log says it listens on.
fn listening_on(log: &str) -> Option<SocketAddr> {
    let line = log.lines().find_map(|line| line.strip_prefix(LISTENING))?;
    line.split_whitespace().next()?.parse().ok()
}

/// SIGTERM to our own child.
fn terminate(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: kill(2) takes no pointers; `pid` is the id of a child this
    // process spawned and has not yet reaped, so it names no other process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// CPU time (user + system) a process has used, in seconds, from
/// `/proc/<pid>/stat`; `None` where there is no such file.
#[must_use]
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    // The kernel reports these fields in USER_HZ, which is 100 on every
    // architecture Linux exports to user space with /proc.
    const USER_HZ: f64 = 100.0;
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |pid| format!("/proc/{pid}/stat"));
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count
    // fields after its closing parenthesis. utime and stime are fields 14
    // and 15; the one after ')' is field 3.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    #[allow(clippy::cast_precision_loss)]
    Some((utime + stime) as f64 / USER_HZ)
}

/// Peak resident memory of a process (`VmHWM` in /proc/<pid>/status), in
/// bytes.
#[must_use]
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_peak_rss() {
        let rss = peak_rss_bytes(std::process::id()).expect("/proc is there");
        assert!(rss > 1024 * 1024, "{rss} bytes");
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            std::hint::black_box(spin.elapsed());
        }
        let seconds = cpu_seconds(None).expect("/proc/self/stat is readable on Linux");
        assert!(seconds > 0.0, "{seconds}");
    }

    #[test]
    fn the_listening_address_is_read_from_the_servers_log() {
        let log = "WARN development mode\nsettled serving on 127.0.0.1:41234 (engine key ab12)\n";
        assert_eq!(listening_on(log), Some(SocketAddr::from(([127, 0, 0, 1], 41234))));
        assert_eq!(listening_on("WARN development mode\n"), None, "not listening yet");
    }

    #[tokio::test]
    async fn a_missing_binary_is_a_clean_error() {
        let Err(error) = SpawnedServer::start(Path::new("/nonexistent/settled"), None).await else {
            panic!("started a server from nothing");
        };
        assert!(matches!(&error, LoadError::Server(m) if m.contains("cargo build --release -p settled")), "{error}");
    }
}
