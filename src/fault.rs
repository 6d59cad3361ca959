//! Test-only fault injection: deliberate panics at named points of the message path,
//! so the fault tests (`tests/fault_panic.rs`) can show that a panic anywhere gets
//! `internal_error_action` for that one message.
//!
//! Why this shape: the trigger must be unreachable from production input. It is
//! compiled only with `debug_assertions` (the test and dev profiles), so a release
//! build (`cargo build --release`, what is deployed) contains none of it and no
//! configuration, rule or message can reach it. In a debug build it is armed only by
//! the environment variable `SGE_MILTER_FAULT_INJECTION=1` of the milter process, and
//! then panics only for a message whose envelope sender is `panic-<point>@...`. A
//! cargo feature would work too, but `cargo test` (the CI command) would then need a
//! feature flag to test what it builds anyway.

/// Panics when fault injection is armed and `sender` asks for a panic at `point`
/// (`mail`, `header`, `eoh`, `body`, `eom`, `sign`). A no-op in release builds.
#[doc(hidden)]
#[inline]
pub fn panic_point(point: &str, sender: Option<&str>) {
    #[cfg(debug_assertions)]
    {
        static ARMED: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
            std::env::var_os("SGE_MILTER_FAULT_INJECTION").is_some_and(|v| v == "1")
        });
        let wanted = sender
            .and_then(|s| s.trim_start_matches('<').strip_prefix("panic-"))
            .and_then(|rest| rest.split_once('@'))
            .is_some_and(|(p, _)| p == point);
        if wanted && *ARMED {
            panic!("injected fault: panic at {point} (SGE_MILTER_FAULT_INJECTION)");
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (point, sender);
}
