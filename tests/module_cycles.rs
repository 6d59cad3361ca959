//! integration/check_module_cycles.py: the library has no import cycle, and the
//! checker does find one (top level, and between second-level modules) when a
//! module names a module that names it back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn checker(src: &Path) -> Output {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integration/check_module_cycles.py");
    Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(script)
        .arg("--src")
        .arg(src)
        .output()
        .expect("run python3 integration/check_module_cycles.py")
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn the_library_has_no_module_cycle() {
    let out = checker(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no module cycles"), "{stdout}");
}

#[test]
fn a_cycle_through_a_child_module_and_a_re_export_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    // auth::check -> evaluator -> stats -> auth::report (through auth's re-export
    // of report::Report) -> auth::check; comments and strings that name modules do
    // not count.
    write(
        &src,
        &[
            (
                "lib.rs",
                "pub mod auth;\npub mod evaluator;\npub mod stats;\n",
            ),
            (
                "auth/mod.rs",
                "pub mod check;\nmod report;\npub use report::Report;\n",
            ),
            (
                "auth/check.rs",
                "use crate::evaluator::run;\n// crate::stats is not named here\npub struct Verdict;\n",
            ),
            (
                "auth/report.rs",
                "use super::check::Verdict;\npub struct Report;\n",
            ),
            (
                "evaluator.rs",
                "pub fn run() { crate::stats::count(); let _ = \"crate::auth\"; }\n",
            ),
            ("stats.rs", "use crate::auth::Report;\npub fn count() {}\n"),
        ],
    );
    let out = checker(&src);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("level 1 cycle: auth <-> evaluator <-> stats"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stats -> auth  (src/stats.rs:1)") && !stdout.contains("evaluator -> auth"),
        "{stdout}"
    );
    assert!(
        stdout.contains("level 2 cycle: auth::check <-> auth::report <-> evaluator <-> stats")
            && stdout.contains("stats -> auth::report  (src/stats.rs:1)")
            && stdout.contains("auth::report -> auth::check  (src/auth/report.rs:1)"),
        "{stdout}"
    );

    // Break it: stats no longer names auth, the report no longer names check.
    write(
        &src,
        &[
            ("stats.rs", "pub fn count() {}\n"),
            ("auth/report.rs", "pub struct Report;\n"),
        ],
    );
    let out = checker(&src);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
