//! `sge-milter run` as a process: signals, reload, listen errors, unix sockets.

mod common;

use common::client::{send_message, simple};
use common::{MilterProcess, WAIT, sge_milter_bin};
use std::process::{Command, Stdio};

const RULES_CONFIG: &str = "[rules]\ndir = \"rules\"\n";

fn keyword_rule(pattern: &str) -> String {
    format!(
        "[[rule]]\nid = \"local.block\"\npatterns = [\"{pattern}\"]\ncase_sensitive = true\n\
         action = \"reject\"\nreason = \"blocked by a local test rule\"\n"
    )
}

/// A milter whose keyword rules come from `DIR/rules/keywords.toml`.
fn milter_with_keyword(pattern: &str) -> MilterProcess {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir rules");
    std::fs::write(
        dir.path().join("rules/keywords.toml"),
        keyword_rule(pattern),
    )
    .expect("write rules");
    MilterProcess::start_in(dir, RULES_CONFIG)
}

fn verdict_for(milter: &MilterProcess, text: &str) -> common::client::MilterVerdict {
    let (headers, body) = simple(text);
    send_message(&milter.listen_addr(), &headers, &body)
}

#[test]
fn sighup_with_a_changed_rule_takes_effect() {
    let mut milter = milter_with_keyword("OLD-TERM-7731");
    assert!(verdict_for(&milter, "has OLD-TERM-7731").is_reject());
    assert!(!verdict_for(&milter, "has NEW-TERM-7732").is_reject());

    std::fs::write(
        milter.config_dir().join("rules/keywords.toml"),
        keyword_rule("NEW-TERM-7732"),
    )
    .expect("rewrite rules");
    milter.signal("HUP");
    assert!(
        milter.wait_for_log("configuration reloaded", WAIT),
        "no reload logged:\n{}",
        milter.log()
    );
    let v = verdict_for(&milter, "has NEW-TERM-7732");
    assert!(v.is_reject(), "new rule not applied: {v:?}");
    assert!(
        v.reply().unwrap_or_default().contains("[sge:local.block]"),
        "{v:?}"
    );
    assert!(!verdict_for(&milter, "has OLD-TERM-7731").is_reject());
    assert!(milter.is_running());
}

#[test]
fn sighup_with_a_broken_config_keeps_running_on_the_old_one() {
    let mut milter = milter_with_keyword("OLD-TERM-7741");
    std::fs::write(
        milter.config_dir().join("rules/keywords.toml"),
        "[[rule]]\nid = \"local.block\"\npatterns = [\"X\"]\nno_such_key = 1\n",
    )
    .expect("break rules");
    milter.signal("HUP");
    assert!(
        milter.wait_for_log("reload failed", WAIT),
        "failed reload not logged:\n{}",
        milter.log()
    );
    let log = milter.log();
    // The log says why: the file and the offending key.
    assert!(
        log.contains("keywords.toml") && log.contains("no_such_key"),
        "log:\n{log}"
    );
    assert!(milter.is_running(), "milter exited on a bad reload:\n{log}");
    assert!(
        verdict_for(&milter, "has OLD-TERM-7741").is_reject(),
        "old rules must stay in force"
    );

    // A broken main config file as well.
    milter.write_config("[milter]\nlisten = 42\n");
    milter.signal("HUP");
    let failures = || milter.log().matches("reload failed").count();
    assert!(common::wait_for(WAIT, || (failures() >= 2).then_some(())).is_some());
    assert!(milter.is_running());
    assert!(verdict_for(&milter, "has OLD-TERM-7741").is_reject());
}

#[test]
fn sigterm_exits_zero() {
    let mut milter = MilterProcess::start("");
    milter.signal("TERM");
    let status = milter
        .wait_exit(WAIT)
        .expect("milter did not exit on SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        milter.log()
    );
    assert!(milter.log().contains("SIGTERM"), "log:\n{}", milter.log());
}

#[test]
fn an_address_in_use_is_a_clear_error_and_non_zero_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let listen = format!("inet:127.0.0.1:{}", addr.port());
    let out = run_until_exit(&["run", "--listen", &listen]);
    assert!(!out.status.success(), "run succeeded on a taken port");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {listen}")),
        "stderr: {stderr}"
    );
}

#[test]
fn a_malformed_listen_address_is_a_clear_error() {
    let out = run_until_exit(&["run", "--listen", "tcp:somewhere"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tcp:somewhere"), "stderr: {stderr}");
}

#[test]
fn a_stale_unix_socket_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("milter.sock");
    // Left behind by a crashed run: a socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind stale socket"));
    assert!(path.exists());
    let listen = format!("unix:{}", path.display());
    let mut milter = MilterProcess::start_listen(dir.path(), "", &listen);
    let (headers, body) = simple("SGE-MILTER-TEST-REJECT-4F1C9");
    let v = send_message(&listen, &headers, &body);
    assert!(v.is_reject(), "{v:?}");
    milter.signal("TERM");
    assert!(milter.wait_exit(WAIT).is_some_and(|s| s.success()));
    assert!(!path.exists(), "socket file left behind after a clean stop");
}

#[test]
fn a_unix_path_that_is_not_a_socket_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("not-a-socket");
    std::fs::write(&path, "precious").expect("write");
    let listen = format!("unix:{}", path.display());
    let out = run_until_exit(&["run", "--listen", &listen]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there"),
        "precious"
    );
}

/// Runs the binary expecting it to exit by itself; kills it (and fails) if not.
fn run_until_exit(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(sge_milter_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sge-milter");
    let exited = common::wait_for(WAIT, || child.try_wait().ok().flatten());
    if exited.is_none() {
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait");
        panic!(
            "sge-milter {args:?} kept running; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    child.wait_with_output().expect("collect output")
}
