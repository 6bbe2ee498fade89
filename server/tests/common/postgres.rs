//! A throwaway PostgreSQL cluster for tests: Debian's server binaries, `initdb` in a temporary
//! directory, unix socket only (no TCP), trust authentication, stopped on drop. Run as root,
//! the server runs as the `postgres` user (initdb refuses root). Tests run it with fsync off
//! ([`Postgres::start_new`]); benches run it at PostgreSQL's default durability
//! ([`Postgres::start_durable`]: fsync, synchronous_commit and full_page_writes on).
//!
//! `LIT_PG_BIN` names the binary directory; otherwise the newest `/usr/lib/postgresql/*/bin`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The directory holding initdb, pg_ctl, pg_basebackup and psql.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LIT_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).and_then(|n| n.parse::<u32>().ok())
    });
    dirs.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// One PostgreSQL server (primary or standby) in its own directory.
pub struct Postgres {
    bin: PathBuf,
    /// Data directory.
    pub data: PathBuf,
    /// The unix socket directory (the `host=` of a connection string).
    pub socket: PathBuf,
    log: PathBuf,
    as_postgres: bool,
    durable: bool,
    _dir: Option<tempfile::TempDir>,
}

impl Postgres {
    /// The connection string for this server (user `postgres`, database `postgres`).
    pub fn connection(&self) -> String {
        format!("host={} port=5432 user=postgres dbname=postgres", self.socket.display())
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let out = self.command(program).args(args).output().map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!(
                "{program} {args:?}: {}\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            ))
        }
    }

    /// A new cluster with fsync off (tests), started. An error when the binaries are missing
    /// (the caller decides whether that skips or fails).
    pub fn start_new() -> Result<Self, String> {
        Self::start_cluster(false)
    }

    /// A new cluster at PostgreSQL's default durability (fsync, synchronous_commit and
    /// full_page_writes on: every commit waits for its WAL flush), started.
    pub fn start_durable() -> Result<Self, String> {
        Self::start_cluster(true)
    }

    fn start_cluster(durable: bool) -> Result<Self, String> {
        let bin = bin_dir().ok_or("PostgreSQL server binaries not found (apt-get install postgresql)")?;
        let dir = tempfile::Builder::new().prefix("litpg").tempdir().map_err(|e| e.to_string())?;
        let as_postgres = is_root();
        let root = dir.path().to_path_buf();
        let mut pg = Self::at(bin, &root, "primary", as_postgres, Some(dir))?;
        pg.durable = durable;
        pg.run("initdb", &["-D", pg.data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N"])?;
        pg.start()?;
        Ok(pg)
    }

    fn at(
        bin: PathBuf,
        root: &Path,
        name: &str,
        as_postgres: bool,
        dir: Option<tempfile::TempDir>,
    ) -> Result<Self, String> {
        let data = root.join(name);
        let socket = root.join(format!("{name}-sock"));
        std::fs::create_dir_all(&socket).map_err(|e| e.to_string())?;
        if as_postgres {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(root).status();
            if !status.is_ok_and(|s| s.success()) {
                return Err("chown to the postgres user failed".into());
            }
        }
        let log = root.join(format!("{name}.log"));
        Ok(Self { bin, data, socket, log, as_postgres, durable: false, _dir: dir })
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let fast = if self.durable { "" } else { "-c fsync=off -c full_page_writes=off " };
        let options = format!(
            "-k {} -p 5432 -c listen_addresses='' {fast}-c max_connections=200 -c shared_buffers=32MB \
             -c wal_level=replica -c max_wal_senders=4",
            self.socket.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                self.log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map(drop)
    }

    /// Stops the server: `fast` (clean) or `immediate` (a crash, as far as clients can tell).
    pub fn stop(&self, mode: &str) -> Result<(), String> {
        self.resume();
        self.run("pg_ctl", &["-D", self.data.to_str().unwrap(), "-m", mode, "-w", "-t", "60", "stop"]).map(drop)
    }

    /// The postmaster's pid.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) to the postmaster and every backend: a hung
    /// server (sockets open, nothing answers).
    pub fn freeze(&self, stop: bool) {
        let Some(pid) = self.postmaster_pid() else { return };
        let sig = if stop { "-STOP" } else { "-CONT" };
        // The backends are the postmaster's children.
        let children = Command::new("pgrep").args(["-P", &pid.to_string()]).output();
        let mut pids = vec![pid.to_string()];
        if let Ok(o) = children {
            pids.extend(String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_string));
        }
        let _ = Command::new("kill").arg(sig).args(&pids).status();
    }

    fn resume(&self) {
        self.freeze(false);
    }

    /// Runs SQL with psql; returns the unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        self.psql_in("postgres", sql)
    }

    /// [`Self::psql`] in database `db`.
    pub fn psql_in(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", self.socket.to_str().unwrap(), "-p", "5432", "-U", "postgres", "-d", db])
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).to_string());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A streaming standby of this server (pg_basebackup -R), started; the primary then waits
    /// for it on every commit (synchronous_standby_names), so an acknowledged commit is on both.
    pub fn synchronous_standby(&self) -> Result<Postgres, String> {
        let root = self.data.parent().ok_or("no parent")?.to_path_buf();
        let standby = Self::at(self.bin.clone(), &root, "standby", self.as_postgres, None)?;
        self.run(
            "pg_basebackup",
            &[
                "-h",
                self.socket.to_str().unwrap(),
                "-p",
                "5432",
                "-U",
                "postgres",
                "-D",
                standby.data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        )?;
        standby.start()?;
        self.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")?;
        self.psql("SELECT pg_reload_conf()")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.psql("SELECT sync_state FROM pg_stat_replication").unwrap_or_default() == "sync" {
                return Ok(standby);
            }
            if Instant::now() > deadline {
                return Err("the standby did not become synchronous".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) -> Result<(), String> {
        self.run("pg_ctl", &["-D", self.data.to_str().unwrap(), "-w", "-t", "60", "promote"]).map(drop)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.resume();
        let _ = self
            .command("pg_ctl")
            .args(["-D", self.data.to_str().unwrap_or(""), "-m", "immediate", "-w", "-t", "20", "stop"])
            .output();
    }
}
