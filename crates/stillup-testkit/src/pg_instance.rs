//! Throwaway PostgreSQL servers for tests that need a state the shared server must never be
//! put in (a standby, a full connection table, password logins, a restart): initdb'd once into
//! a template kept in the temp dir, copied per instance into a directory of its own (its
//! socket there too), listening on 127.0.0.1 at a free port.
//!
//! Every instance runs under `timeout`, so even one whose [`PgInstance`] is never dropped
//! (held in a `static`) stops by itself; dropping it stops it at once (SIGQUIT, PostgreSQL's
//! immediate shutdown) and removes its directory. As root, the server runs as the `postgres`
//! user, which initdb and postgres require.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The longest an instance may live, whatever happens to the test that started it.
const LIFETIME_SECS: u32 = 600;
/// How long a start may take before it counts as failed.
const START_WAIT: Duration = Duration::from_secs(60);

/// How an instance is set up: extra `postgresql.conf` settings, `pg_hba.conf` lines, and
/// whether it starts as a standby (`standby.signal`).
#[derive(Debug, Clone, Default)]
pub struct PgConfig {
    /// `name = value` settings appended to `postgresql.conf`, e.g. `("hot_standby", "off")`.
    pub settings: Vec<(String, String)>,
    /// The whole `pg_hba.conf`; empty: `local all all trust` and `host all all 127.0.0.1/32
    /// trust`.
    pub hba: Vec<String>,
    /// Start in standby mode; with `hot_standby = off` it refuses every connection with
    /// 57P03 for as long as it runs (no primary to follow).
    pub standby: bool,
    /// Files written into the data directory before the start (readable by the server
    /// only), e.g. `server.crt` and `server.key` for `ssl = on`.
    pub files: Vec<(String, Vec<u8>)>,
}

impl PgConfig {
    /// Add a `postgresql.conf` setting.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_string(), value.to_string()));
        self
    }

    /// Start in standby mode (see [`PgConfig::standby`]).
    pub fn as_standby(mut self) -> Self {
        self.standby = true;
        self
    }

    /// Write `contents` as `name` in the data directory before the start.
    pub fn file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((name.to_string(), contents.into()));
        self
    }

    /// Add a `pg_hba.conf` line (the first line added replaces the trusting default).
    pub fn hba(mut self, line: &str) -> Self {
        self.hba.push(line.to_string());
        self
    }
}

/// A running throwaway server.
#[derive(Debug)]
pub struct PgInstance {
    /// Where it listens: 127.0.0.1 and a free port.
    pub addr: SocketAddr,
    /// Its data directory (and Unix socket directory).
    pub dir: PathBuf,
    child: Option<Child>,
}

/// The directory holding `initdb`, `postgres` and `psql` of the newest installed PostgreSQL.
pub fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists() && bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `program args…`, as the `postgres` user when running as root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn give_to_server_user(path: &Path) -> Result<(), String> {
    if !is_root() {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status()
        .map_err(|e| format!("chown: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("chown {} failed", path.display()))
}

fn fresh_dir(what: &str) -> Result<PathBuf, String> {
    let out = Command::new("mktemp")
        .args(["-d", &format!("/tmp/stillup-pg-{what}-XXXXXX")])
        .output()
        .map_err(|e| format!("mktemp: {e}"))?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || dir.is_empty() {
        return Err("mktemp failed".into());
    }
    Ok(PathBuf::from(dir))
}

/// The initdb'd template: one per installed PostgreSQL version, kept in the temp dir across
/// test runs (initdb is the slow part of a start), made atomically (initdb into a fresh
/// directory, then a rename that only the first of racing processes wins).
fn template() -> Result<&'static Path, String> {
    static TEMPLATE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let bin = bin_dir().ok_or("no PostgreSQL under /usr/lib/postgresql")?;
            let version = bin
                .parent()
                .and_then(Path::file_name)
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default();
            let kept = std::env::temp_dir().join(format!("stillup-pg-template-{version}"));
            if kept.join("PG_VERSION").exists() {
                return Ok(kept);
            }
            let dir = fresh_dir("initdb")?;
            give_to_server_user(&dir)?;
            let data = dir.join("data");
            let out = as_server_user(&bin.join("initdb"))
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "-D",
                ])
                .arg(&data)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("initdb: {e}"))?;
            if !out.status.success() {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!(
                    "initdb failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            if std::fs::rename(&data, &kept).is_err() && !kept.join("PG_VERSION").exists() {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("cannot keep the template at {}", kept.display()));
            }
            let _ = std::fs::remove_dir_all(&dir);
            Ok(kept)
        })
        .as_deref()
        .map_err(Clone::clone)
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl PgInstance {
    /// Start an instance set up as `config`; `Err` says why it could not (no PostgreSQL
    /// installed, initdb failed, …). Returns once the port accepts connections (a standby
    /// accepts them, to refuse them in its protocol).
    pub fn start(config: PgConfig) -> Result<PgInstance, String> {
        let template = template()?;
        let dir = fresh_dir("instance")?;
        let copied = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", template.display()))
            .arg(&dir)
            .status()
            .map_err(|e| format!("cp: {e}"))?;
        if !copied.success() {
            return Err("copying the template failed".into());
        }
        let mut conf = String::from("\n# stillup test instance\n");
        for (name, value) in &config.settings {
            conf.push_str(&format!("{name} = '{value}'\n"));
        }
        append(&dir.join("postgresql.conf"), &conf)?;
        let hba = if config.hba.is_empty() {
            "local all all trust\nhost all all 127.0.0.1/32 trust\n".to_string()
        } else {
            config.hba.join("\n") + "\n"
        };
        std::fs::write(dir.join("pg_hba.conf"), hba).map_err(|e| format!("pg_hba.conf: {e}"))?;
        for (name, contents) in &config.files {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(name);
            std::fs::write(&path, contents).map_err(|e| format!("{name}: {e}"))?;
            // PostgreSQL refuses a key file that others may read.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("{name}: {e}"))?;
        }
        if config.standby {
            std::fs::write(dir.join("standby.signal"), "").map_err(|e| e.to_string())?;
        }
        give_to_server_user(&dir)?;
        let mut instance = PgInstance {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            child: None,
        };
        instance.run(None)?;
        if !instance_is_standby(&instance.dir) {
            instance.wait_ready()?;
        }
        Ok(instance)
    }

    /// Start the server process on `port`, or a free one (the data directory as left).
    fn run(&mut self, port: Option<u16>) -> Result<(), String> {
        let bin = bin_dir().ok_or("no PostgreSQL under /usr/lib/postgresql")?;
        let port = match port {
            Some(port) => port,
            None => free_port()?,
        };
        let mut cmd = if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]);
            cmd.arg("timeout");
            cmd
        } else {
            Command::new("timeout")
        };
        cmd.args(["-s", "QUIT", &LIFETIME_SECS.to_string()])
            .arg(bin.join("postgres"))
            .arg("-D")
            .arg(&self.dir)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.join("server.log")).map_err(|e| e.to_string())?,
            ));
        let child = cmd.spawn().map_err(|e| format!("postgres: {e}"))?;
        self.child = Some(child);
        self.addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            if started.elapsed() > START_WAIT {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                self.stop();
                return Err(format!("postgres did not start: {log}"));
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                return Err(format!("postgres exited ({status}): {log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stop the server at once (immediate shutdown), and wait for it to be gone.
    pub fn stop(&mut self) {
        if let Some(pid) = self.postmaster_pid() {
            let _ = Command::new("kill").args(["-QUIT", &pid]).status();
        }
        if let Some(mut child) = self.child.take() {
            let started = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && started.elapsed() < START_WAIT {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop it and start it again on the same port: what a restart of a real server looks
    /// like to clients (refused while down, then 57P03 while it recovers, then ready).
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.run(Some(self.addr.port()))
    }

    /// Wait (at most a minute) until the server lets a client in: the port accepts sooner,
    /// while the server still answers 57P03.
    pub fn wait_ready(&self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            match self.psql("SELECT 1") {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() > START_WAIT => {
                    return Err(format!("postgres never became ready: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Run SQL through `psql` over the instance's Unix socket as `postgres` (trusted there);
    /// `Err` with psql's words when it fails.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let bin = bin_dir().ok_or("no PostgreSQL under /usr/lib/postgresql")?;
        let out = as_server_user(&bin.join("psql"))
            .arg("-h")
            .arg(&self.dir)
            .args([
                "-p",
                &self.addr.port().to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn postmaster_pid(&self) -> Option<String> {
        let pidfile = std::fs::read_to_string(self.dir.join("postmaster.pid")).ok()?;
        let pid = pidfile.lines().next()?.trim().to_string();
        (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(pid)
    }
}

fn instance_is_standby(dir: &Path) -> bool {
    dir.join("standby.signal").exists()
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
