//! Delimiter lines of multipart entities (RFC 2046 5.1.1): which open multipart a
//! line start closes or separates, decided from a bounded prefix of the line.

/// An open multipart entity.
#[derive(Debug)]
pub(super) struct Frame {
    pub boundary: Vec<u8>,
    pub index: u32,
    pub depth: u32,
    /// multipart/digest: parts default to message/rfc822.
    pub digest: bool,
}

/// What a line start holds.
pub(super) enum LineStart {
    NeedMore,
    NotBoundary,
    Boundary { frame: usize, close: bool },
}

/// Transport padding accepted after a delimiter before the line is taken as one
/// anyway (bounds the bytes held back).
pub(super) const MAX_PADDING: usize = 128;

/// Decides whether `buf` (bytes from a line start, ending at the first `\n` if any)
/// is a delimiter of one of the open multiparts: `--boundary`, optionally `--`, then
/// only transport padding (RFC 2046 5.1.1; Python's email parser and Thunderbird are
/// as strict, so `--boundaryX` stays content). The longest matching boundary wins.
/// `complete`: no more bytes of the line will come.
pub(super) fn classify(buf: &[u8], stack: &[Frame], complete: bool) -> LineStart {
    let line = buf.strip_suffix(b"\n").unwrap_or(buf);
    let complete = complete || line.len() < buf.len();
    if line.len() < 2 {
        return if !complete && b"--".starts_with(line) {
            LineStart::NeedMore
        } else {
            LineStart::NotBoundary
        };
    }
    let Some(rest) = line.strip_prefix(b"--") else {
        return LineStart::NotBoundary;
    };
    let mut best: Option<(usize, usize, bool)> = None;
    let mut undecided = false;
    for (k, f) in stack.iter().enumerate() {
        let b = &f.boundary[..];
        if rest.len() < b.len() {
            undecided |= !complete && b.starts_with(rest);
            continue;
        }
        if !rest.starts_with(b) {
            continue;
        }
        let after = &rest[b.len()..];
        let (close, padding) = match after.strip_prefix(b"--") {
            Some(p) => (true, p),
            None if !complete && after == b"-" => {
                undecided = true;
                continue;
            }
            None => (false, after),
        };
        if !padding.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r')) {
            continue;
        }
        if !complete {
            undecided = true;
            continue;
        }
        if best.is_none_or(|(_, len, _)| b.len() > len) {
            best = Some((k, b.len(), close));
        }
    }
    match best {
        _ if undecided => LineStart::NeedMore,
        None => LineStart::NotBoundary,
        Some((frame, _, close)) => LineStart::Boundary { frame, close },
    }
}
