//! A throw-away Sendmail daemon: Debian's sendmail 8.17, unpacked (not installed:
//! it conflicts with postfix) by `integration/sendmail-prepare.sh`, with a `.cf`
//! built from our `.mc` by the unpacked sendmail-cf m4 macros. Loopback only, own
//! queue, every recipient relayed to an in-process [`Sink`].
//!
//! Recipe (found by trial, run as root):
//! 1. sendmail refuses to start until it can qualify its own host name, and on a
//!    host whose name has no dot it asks DNS and sleeps 60 s *before* reading the
//!    `.cf` (so `confDOMAIN_NAME` and the service switch do not help). The daemon
//!    therefore runs in a private UTS namespace (`unshare --uts`) whose host name
//!    is already qualified; nothing on the machine changes.
//! 2. `-bD`: the daemon stays in the foreground, so the test owns its PID and
//!    stops it by PID, even when the test fails.
//! 3. `no_default_msa`: otherwise every daemon also binds port 587, and a second
//!    test daemon waits for it forever.
//! 4. The load-average brakes are off (`confQUEUE_LA`, `confREFUSE_LA`): on a busy
//!    build machine sendmail would otherwise refuse connections or only queue.
//! 5. Relaying: a client on 127.0.0.1 may relay (sendmail's default), and
//!    `SMART_HOST` + `RELAY_MAILER_ARGS` send everything to the sink's port.

use super::sink::Sink;
use super::smtp::{self, SmtpOutcome};
use super::{free_port, pid_alive, send_signal, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use tempfile::TempDir;

/// The qualified host name the daemon sees (inside its UTS namespace).
pub const SENDMAIL_HOSTNAME: &str = "gw.sge-test.invalid";

/// What sendmail does when the milter cannot be reached: `F=T` (tempfail) or
/// `F=R` (reject), as in the `INPUT_MAIL_FILTER` line of the README.
#[derive(Clone, Copy, Debug)]
pub enum FilterFlag {
    Tempfail,
    Reject,
}

pub struct Sendmail {
    child: Child,
    port: u16,
    cf: PathBuf,
    sink: Sink,
    // Dropped last: the queue outlives the daemon.
    dir: TempDir,
}

/// The unpacked sendmail (`integration/sendmail-prepare.sh`), prepared once per
/// test binary.
fn sendmail_root() -> PathBuf {
    static PREPARED: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut prepared = PREPARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(root) = prepared.as_ref() {
        return root.clone();
    }
    let root = PathBuf::from(
        std::env::var("SGE_SENDMAIL_ROOT").unwrap_or_else(|_| "/var/tmp/sge-sendmail-root".into()),
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/sendmail-prepare.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&root)
        .output()
        .expect("run integration/sendmail-prepare.sh");
    assert!(
        out.status.success(),
        "integration/sendmail-prepare.sh failed (needs root and apt access): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    *prepared = Some(root.clone());
    root
}

/// `inet:127.0.0.1:PORT` (Postfix's form) as sendmail writes it: `inet:PORT@127.0.0.1`.
fn sendmail_socket(milter_addr: &str) -> String {
    match milter_addr
        .strip_prefix("inet:")
        .and_then(|a| a.rsplit_once(':'))
    {
        Some((host, port)) => format!("inet:{port}@{host}"),
        None => milter_addr.replace("unix:", "local:"),
    }
}

impl Sendmail {
    /// A daemon on a free loopback port whose one milter is `milter_addr`
    /// (`inet:127.0.0.1:PORT`), with the given connection-failure flag.
    pub fn start(milter_addr: &str, flag: FilterFlag) -> Sendmail {
        Self::start_named(milter_addr, flag, "MTA")
    }

    /// Like [`Self::start`], with the daemon named `name` (`DAEMON_OPTIONS(Name=)`,
    /// which the milter sees as the `{daemon_name}` macro).
    pub fn start_named(milter_addr: &str, flag: FilterFlag, name: &str) -> Sendmail {
        let root = sendmail_root();
        let sink = Sink::start();
        let dir = tempfile::Builder::new()
            .prefix("sge-sendmail-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("queue")).expect("mkdir queue");
        std::fs::write(dir.path().join("service.switch"), "hosts files\n").expect("switch");
        let cf = dir.path().join("sendmail.cf");
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mc = mc_file(dir.path(), port, sink.port(), milter_addr, flag, name);
            build_cf(&root, &mc, &cf);
            let mut child = spawn_daemon(&root, &cf, dir.path());
            let up = wait_for(Duration::from_secs(20), || {
                if child.try_wait().ok().flatten().is_some() {
                    return Some(false);
                }
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| true)
            });
            if up == Some(true) {
                return Sendmail {
                    child,
                    port,
                    cf,
                    sink,
                    dir,
                };
            }
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait for sendmail");
            last_err = format!(
                "{} ({}) on port {port}",
                String::from_utf8_lossy(&out.stderr),
                out.status
            );
        }
        panic!("sendmail did not start: {last_err}");
    }

    /// Submits one message over SMTP.
    pub fn smtp(&self, from: &str, rcpts: &[&str], raw: &[u8]) -> SmtpOutcome {
        smtp::send(self.port, from, rcpts, raw)
    }

    /// Waits until the sink holds at least `n` messages; returns them all raw.
    pub fn wait_delivered(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.sink.wait_raw(n, timeout)
    }

    /// `mailq -qQ`: the quarantined queue as sendmail lists it.
    pub fn quarantine_listing(&self) -> String {
        let out = sendmail_command(&sendmail_root(), &self.cf, "-bp -qQ")
            .stdin(Stdio::null())
            .output()
            .expect("run sendmail -bp -qQ");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Releases a quarantined message (`sendmail -Q -qQ -qI<id>`), as the README
    /// tells an admin to; the daemon's queue runner then delivers it.
    pub fn release(&self, queue_id: &str) {
        let out = sendmail_command(&sendmail_root(), &self.cf, &format!("-Q -qQ -qI{queue_id}"))
            .stdin(Stdio::null())
            .output()
            .expect("run sendmail -Q");
        assert!(out.status.success(), "release failed: {out:?}");
    }
}

impl Drop for Sendmail {
    fn drop(&mut self) {
        let pid = self.child.id();
        send_signal(pid, "TERM");
        if wait_for(Duration::from_secs(10), || {
            (self.child.try_wait().ok().flatten().is_some() || !pid_alive(pid)).then_some(())
        })
        .is_none()
        {
            send_signal(pid, "KILL");
            let _ = self.child.wait();
        }
    }
}

fn mc_file(dir: &Path, port: u16, sink: u16, milter: &str, flag: FilterFlag, name: &str) -> String {
    let d = dir.display();
    let flag = match flag {
        FilterFlag::Tempfail => "T",
        FilterFlag::Reject => "R",
    };
    let socket = sendmail_socket(milter);
    format!(
        "divert(-1)
# Written by tests/common/sendmail.rs: a loopback-only test daemon.
divert(0)dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `{SENDMAIL_HOSTNAME}')dnl
define(`confSERVICE_SWITCH_FILE', `{d}/service.switch')dnl
define(`QUEUE_DIR', `{d}/queue')dnl
define(`STATUS_FILE', `{d}/statistics')dnl
define(`confPID_FILE', `{d}/sendmail.pid')dnl
define(`confHOST_STATUS_DIRECTORY', `')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confRUN_AS_USER', `root')dnl
define(`confDONT_BLAME_SENDMAIL', `GroupWritableDirPathSafe')dnl
define(`ALIAS_FILE', `')dnl
define(`confTO_CONNECT', `5s')dnl
define(`confQUEUE_LA', `10000')dnl
define(`confREFUSE_LA', `10000')dnl
define(`confDELAY_LA', `0')dnl
define(`confTO_QUEUERETURN', `1h')dnl
define(`SMART_HOST', `[127.0.0.1]')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {sink}')dnl
define(`ESMTP_MAILER_ARGS', `TCP $h {sink}')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`nocanonify')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`accept_unqualified_senders')dnl
DAEMON_OPTIONS(`Port={port}, Addr=127.0.0.1, Name={name}')dnl
INPUT_MAIL_FILTER(`sge-milter', `S={socket}, F={flag}, T=C:30s;S:60s;R:60s;E:5m')dnl
MAILER(`smtp')dnl
"
    )
}

fn build_cf(root: &Path, mc: &str, cf: &Path) {
    let cf_dir = root.join("usr/share/sendmail/cf");
    let mc_path = cf.with_extension("mc");
    std::fs::write(&mc_path, mc).expect("write .mc");
    let out = Command::new("m4")
        .arg(format!("-D_CF_DIR_={}/", cf_dir.display()))
        .arg(cf_dir.join("m4/cf.m4"))
        .arg(&mc_path)
        .output()
        .expect("run m4 (integration/deps: m4)");
    assert!(
        out.status.success(),
        "m4 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(cf, out.stdout).expect("write .cf");
}

/// `sendmail -C CF ARGS` in a UTS namespace with a qualified host name (see the
/// module comment: otherwise it may sleep 60 s trying to qualify its own name).
fn sendmail_command(root: &Path, cf: &Path, args: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.arg("--uts")
        .arg("sh")
        .arg("-c")
        .arg(format!(
            "hostname {SENDMAIL_HOSTNAME} && exec \"$0\" -C \"$1\" {args}"
        ))
        .arg(root.join("usr/libexec/sendmail/sendmail"))
        .arg(cf);
    cmd
}

fn spawn_daemon(root: &Path, cf: &Path, dir: &Path) -> Child {
    // -bD: a daemon in the foreground (its PID is ours to stop); -q1s: retry
    // deferred mail every second.
    sendmail_command(root, cf, "-bD -q1s")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare --uts sendmail -bD")
}
