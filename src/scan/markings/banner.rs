//! Body and attachment banners: a line holding only a marking among the first or
//! last few non-blank lines of each text part.
//!
//! Hand-written line tracking rather than a line iterator over the whole part: the
//! head needs only the first lines and the tail only a bounded suffix, so a 20 KB part
//! costs one bounded copy and a few short scans, never a pass that splits every line.

/// Lines longer than this cannot be banners and are not parsed.
pub const MAX_BANNER_LINE: usize = 200;
/// Bytes of each part's end kept to find its last lines.
const TAIL_BYTES: usize = 2048;

/// Line tracking for one text part.
#[derive(Debug, Default)]
pub struct PartLines {
    /// Non-blank lines seen from the start of the part.
    head_seen: usize,
    /// The current line while still in the head (bounded).
    line: String,
    line_too_long: bool,
    /// The last `TAIL_BYTES` of the part.
    tail: String,
    tail_truncated: bool,
}

impl PartLines {
    pub fn reset(&mut self) {
        self.head_seen = 0;
        self.line.clear();
        self.line_too_long = false;
        self.tail.clear();
        self.tail_truncated = false;
    }

    /// Feeds a text chunk; `on_line` gets each complete head line (the first `n`
    /// non-blank lines) as soon as it ends.
    pub fn push(&mut self, chunk: &str, n: usize, html: bool, on_line: &mut dyn FnMut(&str)) {
        let mut rest = chunk;
        while self.head_seen < n && !rest.is_empty() {
            let (seg, ended) = match memchr::memchr(b'\n', rest.as_bytes()) {
                Some(i) => (&rest[..i], Some(i + 1)),
                None => (rest, None),
            };
            if self.line.len() + seg.len() > MAX_BANNER_LINE {
                self.line_too_long = true;
            } else {
                self.line.push_str(seg);
            }
            let Some(next) = ended else { break };
            rest = &rest[next..];
            let line = std::mem::take(&mut self.line);
            if self.line_too_long || !is_blank(&line, html) {
                self.head_seen += 1;
                if !self.line_too_long {
                    on_line(&line);
                }
            }
            self.line = line;
            self.line.clear();
            self.line_too_long = false;
        }
        self.push_tail(chunk);
    }

    fn push_tail(&mut self, chunk: &str) {
        if chunk.len() >= TAIL_BYTES {
            self.tail.clear();
            self.tail
                .push_str(&chunk[floor_boundary(chunk, chunk.len() - TAIL_BYTES)..]);
            self.tail_truncated = true;
            return;
        }
        self.tail.push_str(chunk);
        if self.tail.len() > 2 * TAIL_BYTES {
            let cut = floor_boundary(&self.tail, self.tail.len() - TAIL_BYTES);
            self.tail.drain(..cut);
            self.tail_truncated = true;
        }
    }

    /// At the end of the part: the last `n` non-blank lines, last first.
    pub fn last_lines(&self, n: usize, html: bool) -> impl Iterator<Item = &str> + '_ {
        // The first line of a truncated tail is a fragment.
        let tail = if self.tail_truncated {
            self.tail.find('\n').map_or("", |i| &self.tail[i + 1..])
        } else {
            &self.tail[..]
        };
        tail.rsplit('\n')
            .filter(move |l| !is_blank(l, html))
            .take(n)
            .filter(|l| l.len() <= MAX_BANNER_LINE)
    }
}

/// The largest char boundary at or below `i`.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_blank(line: &str, html: bool) -> bool {
    if html {
        banner_text(line, true).is_empty()
    } else {
        line.trim().is_empty()
    }
}

/// The text of a candidate line: trimmed, and for HTML without tags and with
/// `&nbsp;` as a space.
pub fn banner_text(line: &str, html: bool) -> String {
    if !html {
        return line.trim().to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(chunks: &[&str], n: usize) -> Vec<String> {
        let mut p = PartLines::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, n, false, &mut |l| out.push(l.trim().to_string()));
        }
        out
    }

    #[test]
    fn head_lines_across_chunks() {
        assert_eq!(
            head(&["\r\n  \r\nSENS", "ITIVE\r\nb\r\nc\r\nd\r\n"], 3),
            ["SENSITIVE", "b", "c"]
        );
        let long = "x".repeat(300);
        assert_eq!(head(&[&long, "\nSECRET\n"], 2), ["SECRET"]);
    }

    #[test]
    fn last_lines_skip_blanks_and_fragments() {
        let mut p = PartLines::default();
        let body = format!("{}\nbody\nRESTRICTED\r\n\r\n", "y".repeat(5000));
        for c in body.as_bytes().chunks(700) {
            p.push(std::str::from_utf8(c).unwrap(), 3, false, &mut |_| {});
        }
        let last: Vec<_> = p.last_lines(2, false).map(str::trim).collect();
        assert_eq!(last, ["RESTRICTED", "body"]);
    }

    #[test]
    fn html_lines_lose_tags() {
        assert_eq!(
            banner_text("<p><b>SENSITIVE</b>&nbsp;</p>", true),
            "SENSITIVE"
        );
        assert!(is_blank("<html><head>", true));
    }
}
