//! `[milter] socket_owner`, `socket_group`, `socket_mode` through the CLI: `run` on
//! a unix socket, then stat(2) the socket; bad values fail `run` and `check-rules`
//! with the key named.

mod common;

use common::client::{send_message, simple};
use common::{MilterProcess, WAIT, sge_milter_bin};
use nix::unistd::{Gid, Group, Uid, User};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Output, Stdio};

/// A group to give the socket other than the test's own primary group when root
/// may chown (`nogroup`/`nobody`), else the primary group itself (by name).
fn target_group() -> Group {
    let own = Group::from_gid(Gid::current())
        .ok()
        .flatten()
        .expect("own group");
    if !Uid::effective().is_root() {
        return own;
    }
    ["nogroup", "nobody"]
        .iter()
        .find_map(|n| Group::from_name(n).ok().flatten())
        .unwrap_or(own)
}

#[test]
fn run_sets_the_group_and_mode_of_its_unix_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("milter.sock");
    let group = target_group();
    let config = format!(
        "[milter]\nsocket_group = \"{}\"\nsocket_mode = \"0640\"\n",
        group.name
    );
    let listen = format!("unix:{}", path.display());
    let mut milter = MilterProcess::start_listen(dir.path(), &config, &listen);

    let meta = std::fs::metadata(&path).expect("stat socket");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640, "mode");
    assert_eq!(meta.gid(), group.gid.as_raw(), "group {}", group.name);
    assert_eq!(meta.uid(), Uid::effective().as_raw(), "owner unchanged");
    // Still a working milter socket.
    let (headers, body) = simple("SGE-MILTER-TEST-REJECT-4F1C9");
    assert!(send_message(&listen, &headers, &body).is_reject());
    milter.signal("TERM");
    assert!(milter.wait_exit(WAIT).is_some_and(|s| s.success()));
}

#[test]
fn numeric_owner_and_group_are_taken_as_ids() {
    if !Uid::effective().is_root() {
        eprintln!("skipped: changing a socket's owner needs root");
        return;
    }
    let nobody = User::from_name("nobody")
        .ok()
        .flatten()
        .expect("user nobody");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("milter.sock");
    let config = format!(
        "[milter]\nsocket_owner = {uid}\nsocket_group = \"{gid}\"\nsocket_mode = \"0600\"\n",
        uid = nobody.uid,
        gid = nobody.gid,
    );
    let listen = format!("unix:{}", path.display());
    let _milter = MilterProcess::start_listen(dir.path(), &config, &listen);
    let meta = std::fs::metadata(&path).expect("stat socket");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (nobody.uid.as_raw(), nobody.gid.as_raw())
    );
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
}

#[test]
fn an_unknown_group_fails_check_rules_and_run_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("sge-milter.toml");
    std::fs::write(
        &config,
        "[milter]\nlisten = \"unix:/nonexistent/s.sock\"\n\
         socket_group = \"no-such-group-sge7\"\nsocket_mode = \"0968\"\n",
    )
    .expect("write config");
    let config = config.to_str().expect("utf-8 path");

    let check = run_to_end(&["check-rules", "--config", config]);
    assert_eq!(check.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains(":3: [milter] socket_group: no such group \"no-such-group-sge7\""),
        "{stderr}"
    );
    assert!(
        stderr.contains(":4: [milter] socket_mode: \"0968\""),
        "{stderr}"
    );

    let run = run_to_end(&["run", "--config", config]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("socket_group"), "{stderr}");
}

#[test]
fn a_missing_socket_directory_is_named_and_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-dir");
    let listen = format!("unix:{}/s.sock", missing.display());
    let out = run_to_end(&["run", "--listen", &listen]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the directory {} does not exist",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(!missing.exists());
}

#[test]
fn a_group_it_may_not_give_stops_the_start_and_removes_the_socket() {
    if !Uid::effective().is_root() {
        eprintln!("skipped: needs root to run the milter as user nobody");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // nobody must create the socket here.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let config = dir.path().join("sge-milter.toml");
    std::fs::write(&config, "[milter]\nsocket_group = \"root\"\n").expect("write config");
    let path = dir.path().join("s.sock");
    let listen = format!("unix:{}", path.display());
    let config = config.to_str().expect("utf-8 path");
    let out = run_to_end_with(
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(sge_milter_bin())
            .args(["run", "--config", config, "--listen", &listen]),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot set the owner/group of unix:")
            && stderr.contains("must be a member of socket_group"),
        "{stderr}"
    );
    assert!(
        !path.exists(),
        "a socket Postfix could not use was left behind"
    );
}

/// Runs the binary to its exit (these invocations fail at start).
fn run_to_end(args: &[&str]) -> Output {
    run_to_end_with(Command::new(sge_milter_bin()).args(args))
}

fn run_to_end_with(cmd: &mut Command) -> Output {
    let args = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sge-milter");
    if common::wait_for(WAIT, || child.try_wait().ok().flatten()).is_none() {
        let _ = child.kill();
        panic!("{args} kept running");
    }
    child.wait_with_output().expect("collect output")
}
