//! gzip: one compressed stream (or several concatenated members), decompressed
//! within the member limit, the ratio and the per-message budget.

use super::zip::{ArchiveLimits, read_bounded};
use super::{Budget, Uninspectable};

/// The decompressed bytes and the original file name the gzip header records.
pub fn decompress(
    data: &[u8],
    limits: &ArchiveLimits,
    budget: &mut Budget,
) -> Result<(Option<String>, Vec<u8>), Uninspectable> {
    let decoder = flate2::read::MultiGzDecoder::new(data);
    let name = decoder
        .header()
        .and_then(|h| h.filename())
        .map(|n| String::from_utf8_lossy(n).into_owned());
    let bytes = read_bounded(decoder, data.len() as u64, limits, budget)?;
    Ok((name, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMITS: ArchiveLimits = ArchiveLimits {
        max_entries: 10,
        max_ratio: 100,
        max_member: 1 << 20,
    };

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn round_trip_and_bomb() {
        let (_, out) =
            decompress(&gz(b"ird,49091850\n"), &LIMITS, &mut Budget::unlimited()).unwrap();
        assert_eq!(out, b"ird,49091850\n");
        let bomb = gz(&vec![0u8; 1 << 20]);
        assert_eq!(
            decompress(&bomb, &LIMITS, &mut Budget::unlimited()).unwrap_err(),
            Uninspectable::Ratio(100)
        );
        assert!(matches!(
            decompress(b"\x1F\x8Bnot gzip", &LIMITS, &mut Budget::unlimited()),
            Err(Uninspectable::Damaged(_))
        ));
    }
}
