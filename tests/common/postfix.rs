//! A throw-away Postfix instance: loopback only, own directories and ports, every
//! domain relayed to an in-process [`Sink`].
//!
//! Recipe (found by trial on Debian's postfix 3.7, run as root):
//! 1. a temp dir made world-traversable (0755): Postfix daemons run as user
//!    `postfix` and must reach the queue directory inside it;
//! 2. `etc/main.cf` + `etc/master.cf` written by us (no chroot, so no copies of
//!    /etc files are needed), `queue/` and `data/`;
//! 3. `chown postfix data/` (master.lock and friends are created there by the
//!    unprivileged daemons; `postfix check` only warns about it);
//! 4. `postfix -c etc check`: creates the queue subdirectories with their
//!    `postfix:postdrop` ownership and modes (maildrop 1730, public 710), which
//!    `postdrop` (used by `sendmail -C etc`) needs;
//! 5. `postfix -c etc start`, which waits for master to be up (`master -w`), so
//!    the smtpd port accepts connections when it returns and a port lost to a
//!    parallel test shows as a failed start (retried with new ports).
//!
//! Several instances run in parallel without clashing: ports, queue, data
//! (master.lock) and log are all per instance. No syslog: `maillog_file` is read
//! through [`Postfix::log`].

use super::sink::{Delivered, Sink};
use super::smtp::{self, SmtpOutcome};
use super::{free_port, pid_alive, send_signal, wait_for};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// Knobs the tests need; [`Default`] is the standard gateway setup.
#[derive(Clone, Debug)]
pub struct PostfixOptions {
    /// `milter_default_action`: what Postfix does when the milter is unreachable.
    pub milter_default_action: String,
    /// Extra lines appended to main.cf (later lines win).
    pub extra_main_cf: Vec<String>,
    /// Also run a second smtpd with `-o milter_macro_daemon_name=ORIGINATING`: the
    /// "outbound submission" port (see [`Postfix::submit`]).
    pub submission_port: bool,
    /// Extra master.cf lines (services), before the standard internal services.
    pub extra_master_cf: Vec<String>,
}

impl Default for PostfixOptions {
    fn default() -> Self {
        PostfixOptions {
            milter_default_action: "tempfail".to_string(),
            extra_main_cf: Vec::new(),
            submission_port: false,
            extra_master_cf: Vec::new(),
        }
    }
}

/// How `sendmail -C DIR` ended.
#[derive(Clone, Debug)]
pub struct SendmailOutcome {
    pub success: bool,
    /// stdout and stderr.
    pub output: String,
}

pub struct Postfix {
    etc: PathBuf,
    smtp_port: u16,
    submission_port: Option<u16>,
    sink: Sink,
    started: bool,
    dir: TempDir,
}

impl Postfix {
    /// A default instance with `smtpd_milters` and `non_smtpd_milters` = `milter_addr`.
    pub fn start(milter_addr: &str) -> Postfix {
        Self::start_with(milter_addr, PostfixOptions::default())
    }

    pub fn start_with(milter_addr: &str, opts: PostfixOptions) -> Postfix {
        require_root();
        let sink = Sink::start();
        let dir = tempfile::Builder::new()
            .prefix("sge-postfix-")
            .tempdir()
            .expect("tempdir");
        set_mode(dir.path(), 0o755);
        let etc = dir.path().join("etc");
        for sub in ["etc", "queue", "data"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        run(Command::new("chown")
            .arg("postfix")
            .arg(dir.path().join("data")));
        let mut pf = Postfix {
            etc,
            smtp_port: 0,
            submission_port: None,
            sink,
            started: false,
            dir,
        };
        let mut last_log = String::new();
        for _ in 0..5 {
            pf.smtp_port = free_port();
            pf.submission_port = opts.submission_port.then(free_port);
            pf.write_config(milter_addr, &opts);
            if pf.postfix_cmd("check").success {
                let start = pf.postfix_cmd("start");
                if start.success {
                    pf.started = true;
                    return pf;
                }
                last_log = format!("{}\n{}", start.output, pf.log());
                // A port lost to a parallel test: try new ones.
                if last_log.contains("in use") {
                    pf.postfix_cmd("stop");
                    continue;
                }
            } else {
                last_log = pf.log();
            }
            break;
        }
        panic!("postfix did not start:\n{last_log}");
    }

    fn write_config(&self, milter: &str, opts: &PostfixOptions) {
        let d = self.dir.path().display();
        let mut main = format!(
            "# Written by tests/common/postfix.rs: a loopback-only test instance.
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
syslog_name = sge-test
mail_owner = postfix
setgid_group = postdrop
myhostname = gateway.sge-test.invalid
mydomain = sge-test.invalid
myorigin = $myhostname
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink}
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_connection_cache_on_demand = no
smtp_tls_security_level = none
smtpd_tls_security_level = none
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
smtpd_milters = {milter}
non_smtpd_milters = $smtpd_milters
milter_protocol = 6
milter_default_action = {action}
",
            sink = self.sink.port(),
            action = opts.milter_default_action,
        );
        for line in &opts.extra_main_cf {
            main.push_str(line);
            main.push('\n');
        }
        let mut master = format!(
            "# Written by tests/common/postfix.rs. No chroot: nothing to copy into the queue dir.
127.0.0.1:{smtp} inet n - n - - smtpd
",
            smtp = self.smtp_port
        );
        if let Some(port) = self.submission_port {
            master.push_str(&format!(
                "127.0.0.1:{port} inet n - n - - smtpd -o milter_macro_daemon_name=ORIGINATING\n"
            ));
        }
        for line in &opts.extra_master_cf {
            master.push_str(line);
            master.push('\n');
        }
        master.push_str(MASTER_SERVICES);
        std::fs::write(self.etc.join("main.cf"), main).expect("write main.cf");
        std::fs::write(self.etc.join("master.cf"), master).expect("write master.cf");
    }

    fn postfix_cmd(&self, action: &str) -> SendmailOutcome {
        let out = Command::new("postfix")
            .arg("-c")
            .arg(&self.etc)
            .arg(action)
            .stdin(Stdio::null())
            .output()
            .expect("run postfix");
        SendmailOutcome {
            success: out.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// `postfix stop`, waiting until master and its children are gone (SIGKILL to
    /// master after 60 s); the queue stays. [`Self::start_again`] brings it back.
    pub fn stop(&self) {
        let pid = self.master_pid();
        self.postfix_cmd("stop");
        if let Some(pid) = pid
            && wait_for(Duration::from_secs(60), || (!pid_alive(pid)).then_some(())).is_none()
        {
            send_signal(pid, "KILL");
        }
    }

    /// `postfix start` after [`Self::stop`], on the same ports and queue.
    pub fn start_again(&self) {
        let out = wait_for(Duration::from_secs(60), || {
            let r = self.postfix_cmd("start");
            r.success.then_some(r)
        });
        assert!(
            out.is_some(),
            "postfix did not start again:\n{}",
            self.log()
        );
    }

    /// Asks the queue manager to retry deferred mail now (`postqueue -f`).
    pub fn flush(&self) {
        let _ = Command::new("postqueue")
            .arg("-c")
            .arg(&self.etc)
            .arg("-f")
            .output();
    }

    /// The instance's config directory (`postfix -c`, `sendmail -C`, `postqueue -c`).
    pub fn config_dir(&self) -> &Path {
        &self.etc
    }

    /// The queue directory: also the chroot of services marked chroot in master.cf.
    pub fn queue_dir(&self) -> PathBuf {
        self.dir.path().join("queue")
    }

    /// The inbound smtpd port (`milter_macro_daemon_name` = $myhostname).
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
    }

    /// The ORIGINATING smtpd port, when [`PostfixOptions::submission_port`] is set.
    pub fn submission_port(&self) -> Option<u16> {
        self.submission_port
    }

    /// Submits one message over SMTP to the main smtpd port.
    pub fn smtp(&self, from: &str, rcpts: &[&str], raw: &[u8]) -> SmtpOutcome {
        smtp::send(self.smtp_port, from, rcpts, raw)
    }

    /// Submits one message over SMTP to the ORIGINATING (outbound) port.
    pub fn submit(&self, from: &str, rcpts: &[&str], raw: &[u8]) -> SmtpOutcome {
        let port = self
            .submission_port
            .expect("PostfixOptions::submission_port was not set");
        smtp::send(port, from, rcpts, raw)
    }

    /// Submits one message with `sendmail -C DIR` (the non-SMTP path, which goes
    /// through `non_smtpd_milters`).
    pub fn sendmail(&self, from: &str, rcpts: &[&str], raw: &[u8]) -> SendmailOutcome {
        let mut child = Command::new("sendmail")
            .arg("-C")
            .arg(&self.etc)
            .arg("-i")
            .arg("-f")
            .arg(from)
            .arg("--")
            .args(rcpts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sendmail");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(raw).expect("write to sendmail");
        }
        let out = child.wait_with_output().expect("wait for sendmail");
        SendmailOutcome {
            success: out.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Waits until the sink holds at least `n` messages; returns them all raw.
    pub fn wait_delivered(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.sink.wait_raw(n, timeout)
    }

    /// Like [`Self::wait_delivered`] with the envelope of each message.
    pub fn wait_delivered_envelopes(&self, n: usize, timeout: Duration) -> Vec<Delivered> {
        self.sink.wait_messages(n, timeout)
    }

    /// What the sink has received so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.sink.messages()
    }

    /// Every queued message as `postqueue -j` reports it.
    pub fn queue(&self) -> Vec<serde_json::Value> {
        let out = Command::new("postqueue")
            .arg("-c")
            .arg(&self.etc)
            .arg("-j")
            .output()
            .expect("run postqueue");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Queue ids of the messages on hold (where milter QUARANTINE puts them).
    pub fn hold_queue(&self) -> Vec<String> {
        self.queue()
            .into_iter()
            .filter(|m| m["queue_name"] == "hold")
            .filter_map(|m| m["queue_id"].as_str().map(str::to_string))
            .collect()
    }

    /// Waits until at least `n` messages are on hold; their queue ids.
    pub fn wait_hold(&self, n: usize, timeout: Duration) -> Vec<String> {
        wait_for(timeout, || {
            let h = self.hold_queue();
            (h.len() >= n).then_some(h)
        })
        .unwrap_or_else(|| {
            panic!(
                "expected {n} message(s) on hold within {timeout:?}; queue: {:?}\nlog:\n{}",
                self.queue(),
                self.log()
            )
        })
    }

    /// A queued message's envelope, headers and body (`postcat -q`).
    pub fn postcat(&self, queue_id: &str) -> String {
        let out = Command::new("postcat")
            .arg("-c")
            .arg(&self.etc)
            .arg("-q")
            .arg(queue_id)
            .output()
            .expect("run postcat");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Postfix's own log (`maillog_file`).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join("maillog")).unwrap_or_default())
            .into_owned()
    }

    /// Waits until Postfix's log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, || self.log().contains(needle).then_some(())).is_some()
    }

    fn master_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("queue/pid/master.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        let pid = self.master_pid();
        self.postfix_cmd("stop");
        if let Some(pid) = pid {
            // `postfix stop` signals master and returns; master takes its children down.
            if wait_for(Duration::from_secs(10), || (!pid_alive(pid)).then_some(())).is_none() {
                send_signal(pid, "KILL");
            }
        }
    }
}

/// The standard internal services of master.cf (Debian's list, chroot off).
const MASTER_SERVICES: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       -       0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

fn require_root() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "the Postfix tests run a private Postfix instance and need root (run integration/test.sh as root)"
    );
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
