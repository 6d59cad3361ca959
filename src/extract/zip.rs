//! Zip archives (and so docx/xlsx/pptx/odt ...): members decompressed one at a
//! time, each bounded by the member size limit, its compression ratio and the
//! per-message budget. A zip has its directory at the end, so the archive itself
//! is buffered by the router before it is opened.

use super::{Budget, Uninspectable};
use std::io::{Cursor, Read};

/// Bounds applied to every archive member.
#[derive(Clone, Copy, Debug)]
pub struct ArchiveLimits {
    pub max_entries: usize,
    /// Largest decompressed/compressed ratio of one member.
    pub max_ratio: u64,
    /// Largest decompressed member kept for inspection.
    pub max_member: u64,
}

/// The members of one zip archive, read in order.
pub struct ZipMembers<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    next: usize,
}

fn damaged(e: impl std::fmt::Display) -> Uninspectable {
    Uninspectable::Damaged(format!("zip archive: {e}"))
}

impl<'a> ZipMembers<'a> {
    pub fn open(data: &'a [u8], limits: &ArchiveLimits) -> Result<Self, Uninspectable> {
        let archive = zip::ZipArchive::new(Cursor::new(data)).map_err(damaged)?;
        if archive.len() > limits.max_entries {
            return Err(Uninspectable::TooManyEntries(limits.max_entries));
        }
        Ok(ZipMembers { archive, next: 0 })
    }

    /// The next file member's name and decompressed bytes; `None` at the end.
    /// An encrypted member, or one over a limit, ends the archive with the reason.
    pub fn next_member(
        &mut self,
        limits: &ArchiveLimits,
        budget: &mut Budget,
    ) -> Result<Option<(String, Vec<u8>)>, Uninspectable> {
        while self.next < self.archive.len() {
            let i = self.next;
            self.next += 1;
            let (name, compressed) = {
                let raw = self.archive.by_index_raw(i).map_err(damaged)?;
                if raw.encrypted() {
                    return Err(Uninspectable::Encrypted);
                }
                if raw.is_dir() {
                    continue;
                }
                (
                    raw.name().map_err(damaged)?.to_string(),
                    raw.compressed_size().max(1),
                )
            };
            let entry = self.archive.by_index(i).map_err(damaged)?;
            let bytes = read_bounded(entry, compressed, limits, budget)?;
            return Ok(Some((name, bytes)));
        }
        Ok(None)
    }
}

/// Reads a decompressing reader to its end, in 64 KiB pieces, within the member
/// limit, the ratio to `compressed` input bytes and the budget. Declared sizes can
/// lie: only bytes actually produced count.
pub fn read_bounded(
    reader: impl Read,
    compressed: u64,
    limits: &ArchiveLimits,
    budget: &mut Budget,
) -> Result<Vec<u8>, Uninspectable> {
    let ratio_cap = compressed.saturating_mul(limits.max_ratio);
    let cap = ratio_cap.min(limits.max_member);
    let mut reader = reader.take(cap.saturating_add(1));
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(damaged)?;
        if n == 0 {
            return Ok(out);
        }
        budget.spend(n)?;
        out.extend_from_slice(&buf[..n]);
        if out.len() as u64 > ratio_cap {
            return Err(Uninspectable::Ratio(limits.max_ratio));
        }
        if out.len() as u64 > limits.max_member {
            return Err(Uninspectable::BufferLimit(limits.max_member));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMITS: ArchiveLimits = ArchiveLimits {
        max_entries: 100,
        max_ratio: 100,
        max_member: 1 << 20,
    };

    pub fn make_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn all(
        data: &[u8],
        limits: &ArchiveLimits,
        budget: &mut Budget,
    ) -> Result<Vec<(String, Vec<u8>)>, Uninspectable> {
        let mut z = ZipMembers::open(data, limits)?;
        let mut out = Vec::new();
        while let Some(m) = z.next_member(limits, budget)? {
            out.push(m);
        }
        Ok(out)
    }

    #[test]
    fn reads_every_member() {
        let z = make_zip(&[("a.txt", b"one"), ("d/b.csv", b"two")]);
        let m = all(&z, &LIMITS, &mut Budget::unlimited()).unwrap();
        assert_eq!(
            m,
            vec![
                ("a.txt".into(), b"one".to_vec()),
                ("d/b.csv".into(), b"two".to_vec())
            ]
        );
    }

    #[test]
    fn zip_bomb_ratio_size_and_budget_are_refused() {
        let zeros = vec![b'0'; 600 * 1024];
        let z = make_zip(&[("a.txt", &zeros)]);
        let err = all(&z, &LIMITS, &mut Budget::unlimited()).unwrap_err();
        assert_eq!(err, Uninspectable::Ratio(100));
        let wide = ArchiveLimits {
            max_ratio: 1_000_000,
            max_member: 100 * 1024,
            ..LIMITS
        };
        let err = all(&z, &wide, &mut Budget::unlimited()).unwrap_err();
        assert_eq!(err, Uninspectable::BufferLimit(100 * 1024));
        let wide = ArchiveLimits {
            max_ratio: 1_000_000,
            ..LIMITS
        };
        let mut small = Budget::new(64 * 1024, std::time::Duration::from_secs(60));
        let err = all(&z, &wide, &mut small).unwrap_err();
        assert_eq!(err, Uninspectable::ByteBudget(64 * 1024));
    }

    #[test]
    fn too_many_entries_garbage_and_encryption() {
        let names: Vec<String> = (0..5).map(|i| format!("{i}.txt")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let z = make_zip(&entries);
        let few = ArchiveLimits {
            max_entries: 4,
            ..LIMITS
        };
        assert_eq!(
            all(&z, &few, &mut Budget::unlimited()).unwrap_err(),
            Uninspectable::TooManyEntries(4)
        );
        assert!(matches!(
            all(b"PK\x03\x04garbage", &LIMITS, &mut Budget::unlimited()),
            Err(Uninspectable::Damaged(_))
        ));
        // A member with the encryption flag (general purpose bit 0) set.
        let mut z = make_zip(&[("a.txt", b"secret")]);
        for sig in [&b"PK\x03\x04"[..], &b"PK\x01\x02"[..]] {
            let at = memchr::memmem::find(&z, sig).unwrap();
            let flag_at = at + if sig[2] == 3 { 6 } else { 8 };
            z[flag_at] |= 1;
        }
        assert_eq!(
            all(&z, &LIMITS, &mut Budget::unlimited()).unwrap_err(),
            Uninspectable::Encrypted
        );
    }
}
