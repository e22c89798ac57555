//! Escaping of untrusted text (model outputs, probe text, spec strings) for every
//! report format but HTML, which tera escapes itself.

/// Markdown (CommonMark and GitHub's dialect): every ASCII punctuation character
/// is backslash-escaped, which CommonMark defines as a literal character, so no
/// link, image, emphasis, code span, table cell border, HTML tag or autolink can
/// start inside the text; line breaks become spaces so a table row stays a row.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// XML 1.0 character data or attribute value: the five predefined entities, and
/// characters XML 1.0 forbids even as references (most C0 controls, U+FFFE,
/// U+FFFF) replaced by U+FFFD. Tabs and line breaks in attributes become
/// character references so they survive attribute normalisation.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A YAML scalar: a JSON string literal, which YAML 1.2 reads as a double-quoted
/// scalar (every control character escaped, nothing interpreted).
pub fn yaml(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_neutralises_links_html_and_tables() {
        assert_eq!(markdown("[x](http://e.com)"), r"\[x\]\(http\:\/\/e\.com\)");
        assert_eq!(markdown("<script>|a\nb"), r"\<script\>\|a b");
        assert_eq!(markdown("naïve 5"), "naïve 5");
    }

    #[test]
    fn xml_escapes_markup_and_drops_forbidden_characters() {
        assert_eq!(xml("]]></a>&\"'"), "]]&gt;&lt;/a&gt;&amp;&quot;&apos;");
        assert_eq!(xml("a\u{1}b\tc"), "a\u{FFFD}b&#9;c");
    }

    #[test]
    fn yaml_quotes_everything() {
        assert_eq!(yaml("a: b\n- c"), r#""a: b\n- c""#);
        assert_eq!(yaml("\"#x"), r##""\"#x""##);
    }
}
