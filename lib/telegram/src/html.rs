//! Telegram HTML: escaping, length as Telegram counts it, and splitting long messages.
//!
//! Telegram limits `text` to 4,096 characters **after entity parsing** (tags removed, `&amp;`
//! and friends decoded), counted in UTF-16 code units (entity offsets are UTF-16 units;
//! exchanges-private.md §4.1). [`telegram_len`] counts exactly that: tags cost nothing, an
//! entity costs the UTF-16 length of the character it stands for, any other character its
//! UTF-16 length (an emoji outside the BMP counts 2).

/// Escapes `&`, `<` and `>` for a text part of an HTML message (the three characters Telegram
/// requires escaped; quotes need no escaping outside attribute values).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `<name …>`
    Open,
    /// `</name>`
    Close,
    /// An entity or one character.
    Text,
}

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    raw: &'a str,
    kind: Kind,
    /// Tag name (lower case ASCII compare) for tags, empty for text.
    name: &'a str,
    /// UTF-16 units Telegram counts for it.
    units: usize,
}

fn decoded_units(entity: &str) -> usize {
    // entity = "&...;"
    let body = &entity[1..entity.len() - 1];
    let code = if let Some(hex) = body.strip_prefix("#x").or_else(|| body.strip_prefix("#X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if let Some(dec) = body.strip_prefix('#') {
        dec.parse::<u32>().ok()
    } else {
        None
    };
    code.and_then(char::from_u32)
        .map(|c| c.len_utf16())
        .unwrap_or(1)
}

fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i..].chars().next().unwrap();
        if c == '<'
            && let Some(end) = s[i..].find('>')
        {
            let raw = &s[i..i + end + 1];
            let inner = &raw[1..raw.len() - 1];
            let (kind, rest) = match inner.strip_prefix('/') {
                Some(r) => (Kind::Close, r),
                None => (Kind::Open, inner),
            };
            let name_end = rest
                .find(|ch: char| ch.is_whitespace() || ch == '/')
                .unwrap_or(rest.len());
            out.push(Tok {
                raw,
                kind,
                name: &rest[..name_end],
                units: 0,
            });
            i += raw.len();
            continue;
        }
        if c == '&' {
            // an entity: `&` + [#A-Za-z0-9]{1,10} + `;`
            let mut j = i + 1;
            while j < b.len() && j - i <= 11 && (b[j].is_ascii_alphanumeric() || b[j] == b'#') {
                j += 1;
            }
            if j < b.len() && b[j] == b';' && j > i + 1 {
                let raw = &s[i..=j];
                out.push(Tok {
                    raw,
                    kind: Kind::Text,
                    name: "",
                    units: decoded_units(raw),
                });
                i = j + 1;
                continue;
            }
        }
        let raw = &s[i..i + c.len_utf8()];
        out.push(Tok {
            raw,
            kind: Kind::Text,
            name: "",
            units: c.len_utf16(),
        });
        i += raw.len();
    }
    out
}

/// The length Telegram checks against its 4,096 limit: UTF-16 code units of the text after
/// entity parsing (tags removed, entities decoded).
pub fn telegram_len(html: &str) -> usize {
    tokenize(html).iter().map(|t| t.units).sum()
}

/// Open tags at a point: (name, raw open tag).
type Stack<'a> = Vec<(&'a str, &'a str)>;

fn apply<'a>(stack: &mut Stack<'a>, t: &Tok<'a>) {
    match t.kind {
        Kind::Open => stack.push((t.name, t.raw)),
        Kind::Close => {
            if let Some(pos) = stack
                .iter()
                .rposition(|(n, _)| n.eq_ignore_ascii_case(t.name))
            {
                stack.truncate(pos);
            }
        }
        Kind::Text => {}
    }
}

/// Splits an HTML message into parts of at most `limit` Telegram characters each
/// ([`telegram_len`]), in order.
///
/// Rules: a part ends at the last line break that fits (the break itself is dropped), else at
/// the last space, else exactly at the limit; never inside a tag, an entity or a surrogate pair
/// (tags and entities are atomic). Tags open at a cut (`<b>`, `<i>`, `<code>`, `<pre>`, and any
/// other) are closed at the end of the part and reopened, with their attributes, at the start of
/// the next, so every part is balanced on its own. Tags cost nothing towards the limit. A text
/// that fits is returned unchanged as one part; an empty text gives no part.
pub fn split_html(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let toks = tokenize(text);
    if toks.iter().map(|t| t.units).sum::<usize>() <= limit {
        return if text.is_empty() {
            Vec::new()
        } else {
            vec![text.to_string()]
        };
    }
    let mut parts = Vec::new();
    let mut stack: Stack = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        // closing tags right after a cut were already written at the end of the last part
        while i < toks.len() && toks[i].kind == Kind::Close && !parts.is_empty() {
            apply(&mut stack, &toks[i]);
            i += 1;
        }
        if i == toks.len() {
            break;
        }
        let start_stack = stack.clone();
        let mut cur = stack.clone();
        let mut units = 0;
        // best cuts: (end index exclusive, next start index, stack at the cut)
        let mut at_newline: Option<(usize, usize, Stack)> = None;
        let mut at_space: Option<(usize, usize, Stack)> = None;
        let mut j = i;
        let mut overflow = false;
        while j < toks.len() {
            let t = &toks[j];
            if units + t.units > limit {
                overflow = true;
                break;
            }
            if t.kind == Kind::Text && j > i {
                if t.raw == "\n" {
                    at_newline = Some((j, j + 1, cur.clone()));
                } else if t.raw == " " {
                    at_space = Some((j, j + 1, cur.clone()));
                }
            }
            units += t.units;
            apply(&mut cur, t);
            j += 1;
        }
        let (end, next, end_stack) = if !overflow {
            (toks.len(), toks.len(), cur)
        } else if let Some(c) = at_newline {
            c
        } else if let Some(c) = at_space {
            c
        } else if j == i {
            // a single token larger than the limit (cannot happen for limit >= 2): take it
            let mut s = cur;
            apply(&mut s, &toks[j]);
            (j + 1, j + 1, s)
        } else {
            (j, j, cur)
        };
        let mut part = String::new();
        for (_, raw) in &start_stack {
            part.push_str(raw);
        }
        for t in &toks[i..end] {
            part.push_str(t.raw);
        }
        for (name, _) in end_stack.iter().rev() {
            part.push_str("</");
            part.push_str(name);
            part.push('>');
        }
        if toks[i..end].iter().any(|t| t.kind == Kind::Text) {
            parts.push(part);
        }
        // the stack after the dropped separator equals the stack at the cut
        stack = end_stack;
        i = next;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_three() {
        assert_eq!(escape_html("a<b & c>d"), "a&lt;b &amp; c&gt;d");
    }

    #[test]
    fn length_counts_like_telegram() {
        assert_eq!(telegram_len("<b>ab</b>"), 2);
        assert_eq!(telegram_len("&amp;&lt;"), 2);
        assert_eq!(telegram_len("😀"), 2);
        assert_eq!(telegram_len("&#128512;"), 2);
        assert_eq!(telegram_len("é"), 1);
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_html("<b>x</b>", 10), vec!["<b>x</b>"]);
        assert!(split_html("", 10).is_empty());
    }

    #[test]
    fn cuts_at_newline_and_reopens_tags() {
        let t = "<b>aaaa\nbbbb</b>";
        assert_eq!(split_html(t, 6), vec!["<b>aaaa</b>", "<b>bbbb</b>"]);
        // no empty `<b></b>` at the start of a part
        let t = "<b>aaaa</b>\nbbbb";
        assert_eq!(split_html(t, 6), vec!["<b>aaaa</b>", "bbbb"]);
        let t = "<b>aaaa\n</b>bbbb";
        assert_eq!(split_html(t, 6), vec!["<b>aaaa</b>", "bbbb"]);
        let t = "<a href=\"x\">aaaa bbbb</a>";
        assert_eq!(
            split_html(t, 6),
            vec!["<a href=\"x\">aaaa</a>", "<a href=\"x\">bbbb</a>"]
        );
    }

    #[test]
    fn never_inside_entity_or_surrogate() {
        let t = "ab&amp;cd😀😀";
        let parts = split_html(t, 3);
        for p in &parts {
            assert!(telegram_len(p) <= 3, "{p}");
            assert!(!p.ends_with('&'));
        }
        assert_eq!(parts.concat(), t);
    }
}
