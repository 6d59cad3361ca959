//! `sge-milter run` as a child process on a free loopback port.

use super::{WAIT, free_port, pid_alive, send_signal, sge_milter_bin, wait_for};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// The directory a milter's config lives in: a temp dir the harness owns (deleted
/// with the process guard) or a caller's path.
pub enum ConfigDir {
    Owned(TempDir),
    Borrowed(PathBuf),
}

impl ConfigDir {
    fn path(&self) -> &Path {
        match self {
            ConfigDir::Owned(d) => d.path(),
            ConfigDir::Borrowed(p) => p,
        }
    }
}

impl From<TempDir> for ConfigDir {
    fn from(d: TempDir) -> Self {
        ConfigDir::Owned(d)
    }
}

impl From<&Path> for ConfigDir {
    fn from(p: &Path) -> Self {
        ConfigDir::Borrowed(p.to_path_buf())
    }
}

impl From<PathBuf> for ConfigDir {
    fn from(p: PathBuf) -> Self {
        ConfigDir::Borrowed(p)
    }
}

/// A running `sge-milter run --config DIR/sge-milter.toml --listen ...`; killed on
/// Drop. Its stderr (the decision log) goes to `DIR/milter.log`, see [`Self::log`].
pub struct MilterProcess {
    child: Child,
    listen: String,
    port: Option<u16>,
    config_path: PathBuf,
    log_path: PathBuf,
    exit: Option<ExitStatus>,
    /// Extra environment of the process (kept for [`Self::respawn`]).
    env: Vec<(String, String)>,
    // Dropped last: the directory outlives the process.
    dir: ConfigDir,
}

impl MilterProcess {
    /// Starts the milter on a free loopback port with `config_toml` (its `[milter]
    /// listen` is overridden) in a fresh temp dir.
    pub fn start(config_toml: &str) -> MilterProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, config_toml)
    }

    /// Like [`Self::start`] in `dir`, where the caller may already have written
    /// rule files or keys that `config_toml` refers to (relative paths resolve
    /// against `dir`).
    pub fn start_in(dir: impl Into<ConfigDir>, config_toml: &str) -> MilterProcess {
        Self::start_in_env(dir, config_toml, &[])
    }

    /// Like [`Self::start`] with extra environment variables for the process
    /// (e.g. `SGE_MILTER_FAULT_INJECTION=1`, read by debug builds only).
    pub fn start_env(config_toml: &str, env: &[(&str, &str)]) -> MilterProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in_env(dir, config_toml, env)
    }

    /// [`Self::start_in`] with extra environment variables.
    pub fn start_in_env(
        dir: impl Into<ConfigDir>,
        config_toml: &str,
        env: &[(&str, &str)],
    ) -> MilterProcess {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut dir = dir.into();
        let config_path = dir.path().join("sge-milter.toml");
        std::fs::write(&config_path, config_toml).expect("write milter config");
        let mut last_log = String::new();
        // A free port can be taken by a parallel test before the milter binds it.
        for _ in 0..5 {
            let port = free_port();
            let listen = format!("inet:127.0.0.1:{port}");
            let mut p = Self::spawn(dir, config_path.clone(), listen, Some(port), env.clone());
            match p.wait_ready() {
                Ok(()) => return p,
                Err(log) if log.contains("in use") => {
                    last_log = log;
                    dir = p.into_dir();
                }
                Err(log) => panic!("sge-milter did not start:\n{log}"),
            }
        }
        panic!("sge-milter could not bind a free port:\n{last_log}");
    }

    /// Starts the milter listening on `listen` exactly (e.g. `unix:/tmp/x.sock`).
    pub fn start_listen(
        dir: impl Into<ConfigDir>,
        config_toml: &str,
        listen: &str,
    ) -> MilterProcess {
        let dir = dir.into();
        let config_path = dir.path().join("sge-milter.toml");
        std::fs::write(&config_path, config_toml).expect("write milter config");
        let mut p = Self::spawn(dir, config_path, listen.to_string(), None, Vec::new());
        if let Err(log) = p.wait_ready() {
            panic!("sge-milter did not start on {listen}:\n{log}");
        }
        p
    }

    fn spawn(
        dir: ConfigDir,
        config_path: PathBuf,
        listen: String,
        port: Option<u16>,
        env: Vec<(String, String)>,
    ) -> MilterProcess {
        let log_path = dir.path().join("milter.log");
        let log = std::fs::File::create(&log_path).expect("create milter log");
        let child = Self::command(&config_path, &listen, &env, log);
        MilterProcess {
            child,
            listen,
            port,
            config_path,
            log_path,
            exit: None,
            env,
            dir,
        }
    }

    /// Runs the binary; its stdout and stderr go to `log` (appended to on respawn).
    fn command(
        config_path: &Path,
        listen: &str,
        env: &[(String, String)],
        log: std::fs::File,
    ) -> Child {
        Command::new(sge_milter_bin())
            .arg("run")
            .arg("--config")
            .arg(config_path)
            .arg("--listen")
            .arg(listen)
            .env_remove("SGE_MILTER_LOG")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn sge-milter run")
    }

    /// SIGKILL: the process dies at once, mid-message or not (no clean-up at all).
    pub fn kill9(&mut self) {
        send_signal(self.pid(), "KILL");
        self.exit = self.child.wait().ok();
    }

    /// Starts the binary again on the same address, config and environment (after
    /// [`Self::kill9`] or an exit); its output is appended to the same log.
    pub fn respawn(&mut self) {
        assert!(!self.is_running(), "respawn: the milter is still running");
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .expect("open milter log");
        self.child = Self::command(&self.config_path, &self.listen, &self.env, log);
        self.exit = None;
        if let Err(log) = self.wait_ready() {
            panic!("sge-milter did not restart:\n{log}");
        }
    }

    /// Waits until the socket accepts a connection; on early exit returns the log.
    fn wait_ready(&mut self) -> Result<(), String> {
        let ready = wait_for(WAIT, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                return Some(false);
            }
            self.probe().then_some(true)
        });
        match ready {
            Some(true) => Ok(()),
            Some(false) => Err(format!("exited with {:?}:\n{}", self.exit, self.log())),
            None => Err(format!("not ready after {WAIT:?}:\n{}", self.log())),
        }
    }

    fn probe(&self) -> bool {
        if let Some(port) = self.port {
            return TcpStream::connect(("127.0.0.1", port)).is_ok();
        }
        match self.listen.strip_prefix("unix:") {
            Some(path) => std::os::unix::net::UnixStream::connect(path).is_ok(),
            None => false,
        }
    }

    fn into_dir(mut self) -> ConfigDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Move the directory out without running Drop's kill twice.
        std::mem::replace(&mut self.dir, ConfigDir::Borrowed(PathBuf::new()))
    }

    /// The address to give Postfix: `inet:127.0.0.1:PORT` (or the unix path given).
    pub fn listen_addr(&self) -> String {
        self.listen.clone()
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The directory holding `sge-milter.toml`, the log and any caller files.
    pub fn config_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Replaces the config file (take effect with `signal("HUP")`).
    pub fn write_config(&self, config_toml: &str) {
        std::fs::write(&self.config_path, config_toml).expect("write milter config");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the milter wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// Waits until the log contains `needle`; false after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, || self.log().contains(needle).then_some(())).is_some()
    }

    /// Sends a signal by name: "HUP", "TERM", "INT", ...
    pub fn signal(&self, sig: &str) {
        send_signal(self.pid(), sig);
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exit = Some(status);
                false
            }
            _ => pid_alive(self.pid()),
        }
    }

    /// Waits for the process to exit; `None` if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.exit {
            return Some(s);
        }
        let status = wait_for(timeout, || self.child.try_wait().ok().flatten());
        self.exit = status;
        status
    }
}

impl Drop for MilterProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
