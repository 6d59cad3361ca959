use super::*;

fn text_of(chunks: &[&str]) -> String {
    let mut s = String::new();
    let mut h = HtmlText::new();
    for c in chunks {
        h.feed(c, &mut |t| s.push_str(t));
    }
    h.finish(&mut |t| s.push_str(t));
    s
}

/// Every split of `html` into two chunks, and one char per chunk, give the same text.
fn same_at_every_split(html: &str) -> String {
    let whole = text_of(&[html]);
    for (i, _) in html.char_indices() {
        assert_eq!(text_of(&[&html[..i], &html[i..]]), whole, "split at {i}");
    }
    let chars: Vec<String> = html.chars().map(String::from).collect();
    let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(text_of(&refs), whole);
    whole
}

#[test]
fn tags_comments_scripts_dropped_entities_decoded() {
    let html = "<!DOCTYPE html><html><head><title>T</title><style>p{color:red} /* 111-111-111 */</style>\
        <script type=\"text/javascript\">var x = '<p>222-222-222</p>';</script></head>\
        <body><!-- 333-333-333 --><p class='a>b'>IRD&nbsp;number <b>136</b>&#45;410&#x2D;132</p>\
        <![CDATA[444-444-444]]>caf&eacute; &amp; &lt;tag&gt; &copy 2024 &bogus; a < b</body></html>";
    let s = same_at_every_split(html);
    assert_eq!(
        s,
        "T\nIRD number 136-410-132\ncafé & <tag> © 2024 &bogus; a < b"
    );
}

#[test]
fn table_cells_and_breaks_do_not_glue() {
    let s = same_at_every_split(
        "<table><tr><td>136</td><td>410</td></tr><tr><td>132<br>049</td></tr></table>",
    );
    assert_eq!(s, "136\n410\n132\n049");
}

#[test]
fn invisible_characters_and_odd_markup() {
    let s = same_at_every_split(
        "1&shy;3\u{200b}6&zwj;-410-132 <!--> x <!---> y <?php echo 1 ?>z</SCRIPT>",
    );
    assert_eq!(s, "136-410-132  x  y z");
    let s = same_at_every_split("<SCRIPT>a</scrip b</Script >c<style>d</style\n>e");
    assert_eq!(s, "ce");
}

#[test]
fn hostile_input_is_bounded() {
    let mut h = HtmlText::new();
    let mut n = 0;
    h.feed(&"&".repeat(100_000), &mut |t| n += t.len());
    h.feed(&format!("&{}", "a".repeat(1_000_000)), &mut |t| {
        n += t.len()
    });
    h.feed(&"<".repeat(100_000), &mut |t| n += t.len());
    h.feed(&format!("<a{}", "b".repeat(1_000_000)), &mut |t| {
        n += t.len()
    });
    h.finish(&mut |t| n += t.len());
    assert!(h.name.len() <= MAX_TAG && h.entity.is_empty() && h.buf.is_empty());
    assert!(n > 1_000_000);
    let s = text_of(&["<!--", &"-".repeat(10), "x", "unterminated"]);
    assert_eq!(s, "");
}

#[test]
fn random_markup_does_not_panic() {
    let mut seed = 0x853c_49e6_748f_ea9b_u64;
    let tokens = [
        "<",
        ">",
        "</",
        "<!--",
        "-->",
        "&",
        ";",
        "#",
        "x",
        "<![CDATA[",
        "]]>",
        "'",
        "\"",
        "=",
        "script",
        "é",
        "\u{200b}",
        " ",
    ];
    for _ in 0..200 {
        let mut html = String::new();
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            html.push_str(tokens[(seed % tokens.len() as u64) as usize]);
        }
        let mut mid = html.len() / 2;
        while !html.is_char_boundary(mid) {
            mid -= 1;
        }
        let _ = text_of(&[&html[..mid], &html[mid..]]);
    }
}
