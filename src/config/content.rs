//! `[content]`: how far message content is opened (archives, documents), the
//! per-message extraction budget, and what happens to content that cannot be read.
//! Also the per-direction action type shared with `[limits] malformed_mime_action`.

use super::{Action, ByteSize, Seconds};
use crate::envelope::Direction;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContentConfig {
    /// Largest part or archive member held in memory to be opened (zip, PDF,
    /// Office ...); a bigger one is uninspectable.
    pub max_buffer: ByteSize,
    /// Archives (zip, gzip) opened inside one another, the outermost counting 1.
    pub max_archive_depth: u32,
    /// Per-message budget of bytes produced by decompression and extraction.
    pub max_decompressed: ByteSize,
    /// Largest decompressed/compressed ratio of one archive member.
    pub max_ratio: u64,
    /// Most members one archive may have.
    pub max_entries: usize,
    /// Per-message budget of time spent decompressing and extracting.
    pub max_extract_time: Seconds,
    /// Binary content of no known kind larger than this is uninspectable.
    pub opaque_min_size: ByteSize,
    /// Declared media type prefixes whose unknown binary content is never
    /// uninspectable (the content is still typed: text in them is read).
    pub ignore_types: Vec<String>,
    /// Action for `content.uninspectable`.
    pub uninspectable_action: PerDirection,
}

impl Default for ContentConfig {
    fn default() -> Self {
        ContentConfig {
            max_buffer: ByteSize(32 * 1024 * 1024),
            max_archive_depth: 3,
            max_decompressed: ByteSize(256 * 1024 * 1024),
            max_ratio: 200,
            max_entries: 2000,
            max_extract_time: Seconds(10.0),
            opaque_min_size: ByteSize(2 * 1024 * 1024),
            ignore_types: vec![
                "image/".into(),
                "audio/".into(),
                "video/".into(),
                "font/".into(),
            ],
            uninspectable_action: PerDirection {
                inbound: Action::Tag,
                outbound: Action::Quarantine,
            },
        }
    }
}

/// An action per direction: `{ inbound = "tag", outbound = "quarantine" }`, or one
/// action for both (`"tag"`, the form older configurations use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerDirection {
    pub inbound: Action,
    pub outbound: Action,
}

impl PerDirection {
    pub fn get(self, d: Direction) -> Action {
        match d {
            Direction::Inbound => self.inbound,
            Direction::Outbound => self.outbound,
        }
    }
}

impl<'de> Deserialize<'de> for PerDirection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Both {
            inbound: Action,
            outbound: Action,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(Action),
            Both(Both),
        }
        match Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected an action (\"tag\") or { inbound = \"...\", outbound = \"...\" }",
            )
        })? {
            Form::One(a) => Ok(PerDirection {
                inbound: a,
                outbound: a,
            }),
            Form::Both(b) => Ok(PerDirection {
                inbound: b.inbound,
                outbound: b.outbound,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        a: PerDirection,
    }

    #[test]
    fn one_action_or_one_per_direction() {
        let t: T = toml::from_str("a = \"reject\"").unwrap();
        assert_eq!(t.a.get(Direction::Inbound), Action::Reject);
        assert_eq!(t.a.get(Direction::Outbound), Action::Reject);
        let t: T = toml::from_str("a = { inbound = \"tag\", outbound = \"quarantine\" }").unwrap();
        assert_eq!(t.a.get(Direction::Inbound), Action::Tag);
        assert_eq!(t.a.get(Direction::Outbound), Action::Quarantine);
        assert!(toml::from_str::<T>("a = { inbound = \"tag\" }").is_err());
        assert!(toml::from_str::<T>("a = \"bogus\"").is_err());
    }
}
