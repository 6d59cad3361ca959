//! Ownership and mode of the milter's unix socket (`[milter] socket_owner`,
//! `socket_group`, `socket_mode`), so a chrooted Postfix (group `postfix`) can
//! connect to a socket in `/var/spool/postfix/sge-milter/` and nobody else can.
//!
//! Names are resolved by `check-rules` and at start ([`resolve`]), which both
//! report a user or group that does not exist, naming the file, line and key. The
//! socket's directory is never created: its owner and mode decide who may reach
//! the socket, which is the administrator's (or the Debian package's) choice, not
//! something to guess here.

use crate::config::{ConfigError, ConfigErrors, IdOrName, LoadedConfig, MilterConfig, line_of_key};
use nix::unistd::{Group, User};
use std::io;
use std::path::Path;

/// Resolved `[milter] socket_*` settings; all unset = leave the socket as bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketPerms {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mode: Option<u32>,
}

impl SocketPerms {
    /// Resolves the names and parses the mode; each error names its key.
    pub fn from_config(cfg: &MilterConfig) -> Result<SocketPerms, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let mut keep = |key: &'static str, r: Result<Option<u32>, String>| {
            r.map_err(|e| errors.push((key, e))).ok().flatten()
        };
        let uid = keep(
            "socket_owner",
            cfg.socket_owner.as_ref().map(user_id).transpose(),
        );
        let gid = keep(
            "socket_group",
            cfg.socket_group.as_ref().map(group_id).transpose(),
        );
        let mode = keep(
            "socket_mode",
            cfg.socket_mode.as_deref().map(parse_mode).transpose(),
        );
        if errors.is_empty() {
            Ok(SocketPerms { uid, gid, mode })
        } else {
            Err(errors)
        }
    }

    /// Sets owner and group, then mode, of the socket at `path`. Failing to do
    /// so stops the start: a socket Postfix cannot reach would tempfail all mail.
    pub fn apply(&self, path: &Path) -> io::Result<()> {
        if self.uid.is_some() || self.gid.is_some() {
            std::os::unix::fs::chown(path, self.uid, self.gid).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot set the owner/group of unix:{} ([milter] socket_owner {}, \
                         socket_group {}): {e}; without root, the user running sge-milter \
                         must be a member of socket_group and cannot change socket_owner",
                        path.display(),
                        show(self.uid),
                        show(self.gid),
                    ),
                )
            })?;
        }
        if let Some(mode) = self.mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot set [milter] socket_mode {mode:o} on unix:{}: {e}",
                        path.display()
                    ),
                )
            })?;
        }
        Ok(())
    }
}

fn show(id: Option<u32>) -> String {
    id.map_or_else(|| "unset".to_string(), |id| id.to_string())
}

/// The `[milter] socket_*` settings of `loaded`, or their errors with file and
/// line. `run` and `check-rules` call this (not `Engine::compile`): `scan` needs
/// no socket, and the users and groups named need not exist where it runs.
pub fn resolve(loaded: &LoadedConfig) -> Result<SocketPerms, ConfigErrors> {
    SocketPerms::from_config(&loaded.config.milter).map_err(|errors| {
        let errors = errors.into_iter().map(|(key, message)| {
            ConfigError::new(
                loaded.origin.clone(),
                line_of_key(&loaded.text, key),
                format!("[milter] {key}: {message}"),
            )
        });
        ConfigErrors(errors.collect())
    })
}

/// `"0660"` (octal, permission and sticky/setgid bits only).
fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{s:?} is not an octal file mode such as \"0660\""))
}

/// A numeric id as given (`105` or `"105"`, as chown(1) takes it), else a name
/// looked up through NSS.
fn user_id(v: &IdOrName) -> Result<u32, String> {
    let name = match v {
        IdOrName::Id(id) => return Ok(*id),
        IdOrName::Name(name) => name,
    };
    if let Ok(id) = name.parse() {
        return Ok(id);
    }
    match User::from_name(name) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        Ok(None) => Err(format!("no such user {v}")),
        Err(e) => Err(format!("cannot look up user {v}: {e}")),
    }
}

fn group_id(v: &IdOrName) -> Result<u32, String> {
    let name = match v {
        IdOrName::Id(id) => return Ok(*id),
        IdOrName::Name(name) => name,
    };
    if let Ok(id) = name.parse() {
        return Ok(id);
    }
    match Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(format!("no such group {v}")),
        Err(e) => Err(format!("cannot look up group {v}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milter(
        owner: Option<IdOrName>,
        group: Option<IdOrName>,
        mode: Option<&str>,
    ) -> MilterConfig {
        MilterConfig {
            socket_owner: owner,
            socket_group: group,
            socket_mode: mode.map(str::to_string),
            ..MilterConfig::default()
        }
    }

    #[test]
    fn numeric_ids_and_names_resolve() {
        let cfg = milter(
            Some(IdOrName::Name("root".into())),
            Some(IdOrName::Name("0".into())),
            Some("0660"),
        );
        let perms = SocketPerms::from_config(&cfg).expect("valid");
        assert_eq!(
            perms,
            SocketPerms {
                uid: Some(0),
                gid: Some(0),
                mode: Some(0o660)
            }
        );
        let cfg = milter(None, Some(IdOrName::Id(4242)), None);
        assert_eq!(
            SocketPerms::from_config(&cfg).expect("valid").gid,
            Some(4242)
        );
    }

    #[test]
    fn unknown_names_and_bad_modes_name_their_key() {
        let cfg = milter(
            Some(IdOrName::Name("no-such-user-sge".into())),
            Some(IdOrName::Name("no-such-group-sge".into())),
            Some("0891"),
        );
        let errors = SocketPerms::from_config(&cfg).unwrap_err();
        let keys: Vec<_> = errors.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["socket_owner", "socket_group", "socket_mode"]);
        assert!(
            errors[1].1.contains("no such group \"no-such-group-sge\""),
            "{errors:?}"
        );
        assert!(SocketPerms::from_config(&milter(None, None, Some("17777"))).is_err());
    }
}
