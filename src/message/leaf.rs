//! The leaf part being delivered: transfer decoding (base64, quoted-printable), then
//! charset conversion to text, or bytes as they are.

use super::charset::TextDecoder;
use super::decode::{Base64Decoder, QpDecoder};
use super::{ContentSink, MimeAnomaly, PartInfo};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum TransferEncoding {
    #[default]
    Identity,
    Base64,
    QuotedPrintable,
}

/// The leaf part being delivered, with its decoders (reused from part to part).
#[derive(Default)]
pub(super) struct LeafOutput {
    leaf: Option<Leaf>,
    base64: Base64Decoder,
    qp: QpDecoder,
    decoded: Vec<u8>,
    text: String,
    /// Text between parts (a preamble or an epilogue): started as a leaf of its
    /// own at its first non-blank byte, so blank filler costs no part brackets.
    filler: Option<Leaf>,
}

pub(super) struct Leaf {
    pub info: PartInfo,
    pub encoding: TransferEncoding,
    pub text: Option<TextDecoder>,
    pub bad_base64_reported: bool,
}

impl LeafOutput {
    /// Content bytes of the current leaf, still transfer-encoded. Outside a leaf
    /// they are the pending filler's (preamble, epilogue), or dropped when none.
    pub fn feed(&mut self, data: &[u8], sink: &mut dyn ContentSink) {
        if self.leaf.is_none()
            && !data.iter().all(u8::is_ascii_whitespace)
            && let Some(filler) = self.filler.take()
        {
            self.start(filler, sink);
        }
        let Some(leaf) = &mut self.leaf else {
            return;
        };
        match leaf.encoding {
            TransferEncoding::Identity => deliver(leaf, data, &mut self.text, sink),
            TransferEncoding::Base64 => {
                self.base64.decode(data, &mut self.decoded);
                report_bad_base64(leaf, &mut self.base64, sink);
                deliver(leaf, &self.decoded, &mut self.text, sink);
            }
            TransferEncoding::QuotedPrintable => {
                self.qp.decode(data, &mut self.decoded);
                deliver(leaf, &self.decoded, &mut self.text, sink);
            }
        }
    }

    /// Text that follows outside any leaf (until the next leaf or filler) belongs
    /// to `filler`; `None` drops it (the blank line before a part's headers).
    pub fn set_filler(&mut self, filler: Option<Leaf>) {
        self.filler = filler;
    }

    pub fn start(&mut self, leaf: Leaf, sink: &mut dyn ContentSink) {
        self.filler = None;
        self.base64.reset();
        self.qp.reset();
        sink.part_start(&leaf.info);
        self.leaf = Some(leaf);
    }

    /// Flushes the decoders' state and closes the part.
    pub fn end(&mut self, sink: &mut dyn ContentSink) {
        let Some(mut leaf) = self.leaf.take() else {
            return;
        };
        match leaf.encoding {
            TransferEncoding::Identity => {}
            TransferEncoding::Base64 => {
                self.base64.finish(&mut self.decoded);
                report_bad_base64(&mut leaf, &mut self.base64, sink);
                deliver(&mut leaf, &self.decoded, &mut self.text, sink);
            }
            TransferEncoding::QuotedPrintable => {
                self.qp.finish(&mut self.decoded);
                deliver(&mut leaf, &self.decoded, &mut self.text, sink);
            }
        }
        if let Some(t) = &mut leaf.text {
            let s = t.finish(&mut self.text);
            if !s.is_empty() {
                sink.text(&leaf.info, s);
            }
        }
        sink.part_end(&leaf.info);
    }
}

fn report_bad_base64(leaf: &mut Leaf, decoder: &mut Base64Decoder, sink: &mut dyn ContentSink) {
    if decoder.take_bad() && !leaf.bad_base64_reported {
        leaf.bad_base64_reported = true;
        sink.anomaly(&MimeAnomaly::BadBase64 {
            part: leaf.info.index,
        });
    }
}

/// Decoded bytes to the sink: as text (charset-converted) or as bytes.
fn deliver(leaf: &mut Leaf, bytes: &[u8], buf: &mut String, sink: &mut dyn ContentSink) {
    if bytes.is_empty() {
        return;
    }
    match &mut leaf.text {
        Some(decoder) => {
            let s = decoder.decode(bytes, buf);
            if !s.is_empty() {
                sink.text(&leaf.info, s);
            }
        }
        None => sink.binary(&leaf.info, bytes),
    }
}
