//! Office Open XML and OpenDocument parts reduced to their text.

/// A streaming XML-to-text reducer: drops markup, keeps character data, decodes the
/// predefined entities, and puts a line break where a paragraph, cell or row ends
/// so that text from neighbouring cells never runs together. Text runs inside a
/// paragraph (`<w:r><w:t>123</w:t></w:r><w:r><w:t>456</w:t>`) join without a gap,
/// as Word displays them.
#[derive(Default)]
pub struct XmlText {
    in_tag: bool,
    tag: Vec<u8>,
    in_entity: bool,
    entity: Vec<u8>,
}

/// Local names of elements that end a visual line or cell.
const BREAKS: &[&[u8]] = &[
    b"p",
    b"br",
    b"tab",
    b"cr",
    b"tc",
    b"tr",
    b"c",
    b"v",
    b"si",
    b"row",
    b"h",
    b"is",
    b"table-cell",
    b"table-row",
    b"line-break",
    b"list-item",
    b"txBody",
    b"sp",
];

impl XmlText {
    pub fn reset(&mut self) {
        *self = XmlText {
            tag: std::mem::take(&mut self.tag),
            entity: std::mem::take(&mut self.entity),
            ..XmlText::default()
        };
        self.tag.clear();
        self.entity.clear();
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < input.len() {
            if self.in_tag {
                // Up to the end of the tag in one step (the name is all we keep).
                let rest = &input[i..];
                let end = memchr::memchr(b'>', rest).unwrap_or(rest.len());
                let room = 64usize.saturating_sub(self.tag.len()).min(end);
                self.tag.extend_from_slice(&rest[..room]);
                i += end;
                if end < rest.len() {
                    i += 1;
                    self.in_tag = false;
                    if self.breaks_line() {
                        out.push(b'\n');
                    }
                }
                continue;
            }
            let b = input[i];
            if self.in_entity {
                if b == b';' || self.entity.len() > 10 {
                    self.in_entity = false;
                    decode_entity(&self.entity, out);
                } else {
                    self.entity.push(b);
                }
                i += 1;
                continue;
            }
            // Character data up to the next markup, copied in one step.
            let rest = &input[i..];
            let end = memchr::memchr2(b'<', b'&', rest).unwrap_or(rest.len());
            out.extend_from_slice(&rest[..end]);
            i += end;
            if end < rest.len() {
                if rest[end] == b'<' {
                    self.in_tag = true;
                    self.tag.clear();
                } else {
                    self.in_entity = true;
                    self.entity.clear();
                }
                i += 1;
            }
        }
    }

    fn breaks_line(&self) -> bool {
        let t = self.tag.strip_prefix(b"/").unwrap_or(&self.tag);
        let name_end = t
            .iter()
            .position(|&b| b == b' ' || b == b'/' || b == b'\t' || b == b'\n')
            .unwrap_or(t.len());
        let name = &t[..name_end];
        let local = name
            .iter()
            .rposition(|&b| b == b':')
            .map_or(name, |i| &name[i + 1..]);
        BREAKS.contains(&local)
    }
}

fn decode_entity(e: &[u8], out: &mut Vec<u8>) {
    let c = match e {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x' | b'X', hex @ ..] => std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32),
        [b'#', dec @ ..] => std::str::from_utf8(dec)
            .ok()
            .and_then(|d| d.parse().ok())
            .and_then(char::from_u32),
        _ => None,
    };
    let mut tmp = [0u8; 4];
    out.extend_from_slice(c.unwrap_or(' ').encode_utf8(&mut tmp).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_xml_and_breaks_cells() {
        let mut out = Vec::new();
        let mut x = XmlText::default();
        x.feed(
            b"<w:p><w:r><w:t>IRD 123</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>-456-789</w:t></w:r></w:p><c><v>49091850</v></c><c><v>1</v></c>&amp;&#65;",
            &mut out,
        );
        assert_eq!(out, b"\nIRD 123-456-789\n\n\n49091850\n\n\n\n1\n\n&A");
    }

    #[test]
    fn xml_text_is_the_same_however_the_input_is_split() {
        let xml: &[u8] = b"<w:p a=\"x>\"><w:t>IRD&amp;123</w:t></w:p>&#x41;<c><v>9</v></c>";
        let mut whole = Vec::new();
        XmlText::default().feed(xml, &mut whole);
        for split in 0..xml.len() {
            let mut out = Vec::new();
            let mut x = XmlText::default();
            x.feed(&xml[..split], &mut out);
            x.feed(&xml[split..], &mut out);
            assert_eq!(out, whole, "split at {split}");
        }
    }
}
