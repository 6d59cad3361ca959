//! PDF tokens and objects (ISO 32000-1 §7.2–7.3), tolerant of damage: a token that
//! makes no sense is skipped, never a panic. Nesting is bounded.

/// Arrays and dictionaries nested deeper than this are cut off (hostile input).
const MAX_DEPTH: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Name(Vec<u8>),
    Str(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32),
}

impl Obj {
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Obj::Dict(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_name(&self) -> Option<&[u8]> {
        match self {
            Obj::Name(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Obj::Int(i) => Some(*i as f64),
            Obj::Real(r) => Some(*r),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Obj::Int(i) => Some(*i),
            Obj::Real(r) => Some(*r as i64),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dict(pub Vec<(Vec<u8>, Obj)>);

impl Dict {
    pub fn get(&self, key: &[u8]) -> Option<&Obj> {
        // The last one wins, as in most readers.
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn name_is(&self, key: &[u8], value: &[u8]) -> bool {
        self.get(key).and_then(Obj::as_name) == Some(value)
    }
}

/// One lexical token. Strings and names are decoded.
#[derive(Debug, PartialEq)]
pub enum Tok<'a> {
    Int(i64),
    Real(f64),
    Name(Vec<u8>),
    Str(Vec<u8>),
    ArrayOpen,
    ArrayClose,
    DictOpen,
    DictClose,
    /// An operator or keyword (`obj`, `R`, `Tj`, `true`, a stray `{`).
    Keyword(&'a [u8]),
}

pub fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_ws(b) && !is_delim(b)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub struct Lexer<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    /// Whether `int int R` is a reference (not in content streams, where the
    /// look-ahead would only cost time).
    refs: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Lexer<'a> {
        Lexer {
            data,
            pos,
            refs: true,
        }
    }

    pub fn content(data: &'a [u8]) -> Lexer<'a> {
        Lexer {
            data,
            pos: 0,
            refs: false,
        }
    }

    /// The object that starts with `tok` (already read).
    pub fn object_from_tok(&mut self, tok: Tok<'a>) -> Option<Obj> {
        self.object_from(tok, 0)
    }

    pub fn skip_ws(&mut self) {
        while let Some(&b) = self.data.get(self.pos) {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(&c) = self.data.get(self.pos) {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The next token, or `None` at the end of the data.
    pub fn next_tok(&mut self) -> Option<Tok<'a>> {
        self.skip_ws();
        let b = *self.data.get(self.pos)?;
        let next = self.data.get(self.pos + 1).copied();
        Some(match b {
            b'(' => {
                self.pos += 1;
                Tok::Str(self.literal())
            }
            b'<' if next == Some(b'<') => {
                self.pos += 2;
                Tok::DictOpen
            }
            b'<' => {
                self.pos += 1;
                Tok::Str(self.hex())
            }
            b'>' if next == Some(b'>') => {
                self.pos += 2;
                Tok::DictClose
            }
            b'[' => {
                self.pos += 1;
                Tok::ArrayOpen
            }
            b']' => {
                self.pos += 1;
                Tok::ArrayClose
            }
            b'/' => {
                self.pos += 1;
                Tok::Name(self.name())
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number(),
            _ if is_regular(b) => Tok::Keyword(self.word()),
            _ => {
                // A stray `)`, `>`, `{` or `}`: a one-byte keyword nobody uses.
                self.pos += 1;
                Tok::Keyword(&self.data[self.pos - 1..self.pos])
            }
        })
    }

    fn word(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.data.get(self.pos).is_some_and(|&b| is_regular(b)) {
            self.pos += 1;
        }
        &self.data[start..self.pos]
    }

    fn number(&mut self) -> Tok<'a> {
        let word = self.word();
        let (neg, digits) = match word.first() {
            Some(b'-') => (true, &word[1..]),
            Some(b'+') => (false, &word[1..]),
            _ => (false, word),
        };
        let mut int: i64 = 0;
        let mut frac = 0.0;
        let mut scale = 1.0;
        let mut dot = false;
        for &d in digits {
            match d {
                b'0'..=b'9' if dot => {
                    scale /= 10.0;
                    frac += f64::from(d - b'0') * scale;
                }
                b'0'..=b'9' => int = int.saturating_mul(10).saturating_add(i64::from(d - b'0')),
                b'.' if !dot => dot = true,
                // `1.2.3`, `--5`: not a number; keep what came first, as Acrobat does.
                _ => break,
            }
        }
        let int = if neg { -int } else { int };
        if dot {
            let v = int as f64 + if neg { -frac } else { frac };
            Tok::Real(v)
        } else {
            Tok::Int(int)
        }
    }

    fn name(&mut self) -> Vec<u8> {
        let raw = self.word();
        if !raw.contains(&b'#') {
            return raw.to_vec();
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let hex = raw
                .get(i + 1)
                .and_then(|&h| hex_val(h))
                .zip(raw.get(i + 2).and_then(|&l| hex_val(l)));
            match (raw[i], hex) {
                (b'#', Some((h, l))) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    /// A literal string after its `(`: balanced parentheses, escapes, octal.
    fn literal(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut depth = 0usize;
        while let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' if depth == 0 => break,
                b')' => {
                    depth -= 1;
                    out.push(b);
                }
                b'\\' => self.escape(&mut out),
                _ => out.push(b),
            }
        }
        out
    }

    fn escape(&mut self, out: &mut Vec<u8>) {
        let Some(&e) = self.data.get(self.pos) else {
            return;
        };
        self.pos += 1;
        match e {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match self.data.get(self.pos) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            // A backslash before an end of line continues the string.
            b'\r' => {
                if self.data.get(self.pos) == Some(&b'\n') {
                    self.pos += 1;
                }
            }
            b'\n' => {}
            _ => out.push(e),
        }
    }

    fn hex(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        while let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            if b == b'>' {
                break;
            }
            if let Some(v) = hex_val(b) {
                match high.take() {
                    Some(h) => out.push(h << 4 | v),
                    None => high = Some(v),
                }
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        out
    }

    /// The next object; `None` at the end or at a token that starts none.
    pub fn object(&mut self) -> Option<Obj> {
        let tok = self.next_tok()?;
        self.object_from(tok, 0)
    }

    fn object_from(&mut self, tok: Tok<'a>, depth: usize) -> Option<Obj> {
        Some(match tok {
            Tok::Int(i) if self.refs => self.maybe_ref(i),
            Tok::Int(i) => Obj::Int(i),
            Tok::Real(r) => Obj::Real(r),
            Tok::Name(n) => Obj::Name(n),
            Tok::Str(s) => Obj::Str(s),
            Tok::ArrayOpen if depth < MAX_DEPTH => Obj::Array(self.array(depth + 1)),
            Tok::DictOpen if depth < MAX_DEPTH => Obj::Dict(self.dict(depth + 1)),
            Tok::ArrayOpen | Tok::DictOpen => return None,
            Tok::Keyword(b"true") => Obj::Bool(true),
            Tok::Keyword(b"false") => Obj::Bool(false),
            Tok::Keyword(b"null") => Obj::Null,
            Tok::ArrayClose | Tok::DictClose | Tok::Keyword(_) => return None,
        })
    }

    /// `int int R` is a reference; otherwise the integer alone.
    fn maybe_ref(&mut self, first: i64) -> Obj {
        let save = self.pos;
        if let (Ok(num), Some(Tok::Int(_)), Some(Tok::Keyword(b"R"))) =
            (u32::try_from(first), self.next_tok(), self.next_tok())
        {
            return Obj::Ref(num);
        }
        self.pos = save;
        Obj::Int(first)
    }

    fn array(&mut self, depth: usize) -> Vec<Obj> {
        let mut items = Vec::new();
        while let Some(tok) = self.next_tok() {
            if tok == Tok::ArrayClose {
                break;
            }
            match self.object_from(tok, depth) {
                Some(o) => items.push(o),
                None if depth >= MAX_DEPTH => break,
                None => {}
            }
        }
        items
    }

    fn dict(&mut self, depth: usize) -> Dict {
        let mut entries = Vec::new();
        while let Some(tok) = self.next_tok() {
            match tok {
                Tok::DictClose => break,
                Tok::Name(key) => {
                    let save = self.pos;
                    match self.next_tok() {
                        Some(Tok::DictClose) => break,
                        Some(Tok::Keyword(b"stream" | b"endobj")) => {
                            self.pos = save;
                            break;
                        }
                        Some(t) => {
                            if let Some(v) = self.object_from(t, depth) {
                                entries.push((key, v));
                            }
                        }
                        None => break,
                    }
                }
                // A dictionary that runs into `stream` lost its `>>`: stop here.
                Tok::Keyword(b"stream" | b"endobj") => break,
                _ => {}
            }
        }
        Dict(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Option<Obj> {
        Lexer::new(s, 0).object()
    }

    #[test]
    fn strings_escapes_octal_and_hex() {
        assert_eq!(
            parse(b"(a\\(b\\) (c) \\101\\0557\\\nd)"),
            Some(Obj::Str(b"a(b) (c) A-7d".to_vec()))
        );
        assert_eq!(parse(b"<48 65 6c6C 6>"), Some(Obj::Str(b"Hell`".to_vec())));
    }

    #[test]
    fn dicts_refs_and_names() {
        let o = parse(b"<< /Type /Pa#67e /Kids [1 0 R 2 0 R] /Count 2 /X -1.5 >>").unwrap();
        let d = o.as_dict().unwrap();
        assert!(d.name_is(b"Type", b"Page"));
        assert_eq!(
            d.get(b"Kids"),
            Some(&Obj::Array(vec![Obj::Ref(1), Obj::Ref(2)]))
        );
        assert_eq!(d.get(b"Count"), Some(&Obj::Int(2)));
        assert_eq!(d.get(b"X"), Some(&Obj::Real(-1.5)));
    }

    #[test]
    fn deep_nesting_and_garbage_do_not_panic() {
        let deep = vec![b'['; 100_000];
        let _ = parse(&deep);
        let deep = b"<<".repeat(50_000);
        let _ = parse(&deep);
        for junk in [
            &b"(unterminated \\"[..],
            b"<abc",
            b"/",
            b"-",
            b"1 0",
            b"<< /A",
            b">>]){}",
        ] {
            let mut lx = Lexer::new(junk, 0);
            while lx.next_tok().is_some() {}
            let _ = parse(junk);
        }
    }
}
