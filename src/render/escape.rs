//! One escaping function per sink, applied where a value is interpolated, never to the
//! report itself (the JSON keeps every value as it was read).
//!
//! Every string that reaches a renderer may come from outside: a refused StartRestoreJob
//! is written by whoever made the call, restore metadata by whoever started the restore,
//! and AWS error messages quote both. A value must never change the shape of the text it
//! is put in: start a line of the email (and so forge a `Fix (verified …)` block), close
//! a Slack code span, mention a channel, or show a link under a label it chose.
//!
//! - [`plain_text`]: the email and CLI text. One line, no control, line-separator,
//!   bidirectional or invisible characters, at most [`MAX_VALUE_CHARS`] characters.
//! - [`slack_mrkdwn`]: the Chatbot notification. [`plain_text`], then `&`, `<` and `>`
//!   as Slack's entities (Slack, "Formatting text for app surfaces", "Escaping text"),
//!   backticks as `'` (mrkdwn has no escape for a backtick inside a code span), square
//!   brackets as parentheses (Chatbot's `client-markdown` turns `[label](url)` into a
//!   link: it is how this crate writes its own), and `@channel`, `@here`, `@everyone`
//!   with a full-width `＠` so they can never notify a channel.
//! - [`single_line`]: SNS subjects and message attribute values: [`plain_text`] with a
//!   caller's length cap.

/// Longest value put into the text report: enough for any ARN (2,048), an AWS error
/// message or an encoded authorization message; longer values are cut with `…` (the
/// JSON report keeps them whole).
pub const MAX_VALUE_CHARS: usize = 4_096;

/// Characters that are invisible or reorder what follows: bidirectional controls
/// (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), zero-width and word-joiner
/// characters (U+200B–U+200D, U+2060–U+2064, U+FEFF), interlinear annotations
/// (U+FFF9–U+FFFB) and tag characters (U+E0000–U+E007F, used to hide text).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{061C}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Characters that end a line somewhere: C0 and C1 controls (CR, LF, NEL, …), the Unicode
/// line and paragraph separators, and DEL.
fn breaks_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `s` on one line: each run of control or separator characters becomes one space,
/// invisible characters are dropped, and the result is cut to `max_chars` characters
/// (the last one `…` when cut).
pub fn single_line(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)));
    let mut count = 0usize;
    let mut pending_space = false;
    let mut cut = false;
    for c in s.chars() {
        if is_invisible(c) {
            continue;
        }
        if breaks_line(c) {
            pending_space = true;
            continue;
        }
        let space_first = pending_space && count > 0 && c != ' ';
        let needed = if space_first { 2 } else { 1 };
        if count + needed > max_chars {
            cut = true;
            break;
        }
        if space_first {
            out.push(' ');
            count += 1;
        }
        pending_space = false;
        out.push(c);
        count += 1;
    }
    if cut && max_chars > 0 {
        while count >= max_chars {
            out.pop();
            count -= 1;
        }
        out.push('…');
    }
    out
}

/// A value for the email and CLI text: one line, printable, at most [`MAX_VALUE_CHARS`].
pub fn plain_text(s: &str) -> String {
    single_line(s, MAX_VALUE_CHARS)
}

/// A value for Slack (Chatbot `client-markdown`) text, inside or outside a code span,
/// cut to `max_chars` characters before escaping (so an entity is never cut in half).
pub fn slack_mrkdwn(s: &str, max_chars: usize) -> String {
    let line = single_line(s, max_chars);
    let mut out = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\''),
            '[' => out.push('('),
            ']' => out.push(')'),
            c => out.push(c),
        }
    }
    defuse_mentions(&out)
}

/// `@channel`, `@here` and `@everyone` (any case) with a full-width at sign.
fn defuse_mentions(s: &str) -> String {
    if !s.contains('@') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(at) = rest.find('@') {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let after = tail.get(1..).unwrap_or("");
        let word: String = after
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect::<String>()
            .to_ascii_lowercase();
        if matches!(word.as_str(), "channel" | "here" | "everyone") {
            out.push('＠');
        } else {
            out.push('@');
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A value for Markdown (a ticket or a wiki page), in a table cell or in text: one line
/// ([`single_line`]), then every character that Markdown reads as syntax in the middle of
/// a line (`|` ends a table cell, `` ` `` opens code, `[`/`]` a link or image, `<`/`>`
/// HTML or an autolink, `*`/`_`/`~` emphasis, `&` an entity, `\` an escape)
/// backslash-escaped, which CommonMark allows for any ASCII punctuation ("Backslash
/// escapes") and GitHub's tables honour for `|`. The renderer starts every line itself,
/// so a value never sits where `#`, `-` or `>` would open a block.
pub fn markdown(s: &str, max_chars: usize) -> String {
    let line = single_line(s, max_chars);
    let mut out = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        if "\\`*_[]<>|~&".contains(c) {
            out.push('\\');
        }
        // `@` never mentions anyone from a table: the full-width sign, as for Slack.
        out.push(if c == '@' { '＠' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_controls_never_start_a_line() {
        assert_eq!(
            plain_text("a\n\nFix (verified)\r\n aws iam x"),
            "a Fix (verified) aws iam x"
        );
        assert_eq!(plain_text("\u{0}a\u{85}b\u{2028}c\u{7f}"), "a b c");
        assert_eq!(plain_text("\n\nlead"), "lead");
    }

    #[test]
    fn bidirectional_and_invisible_characters_are_dropped() {
        assert_eq!(
            plain_text("abc\u{202e}fed\u{200b}\u{feff}\u{e0041}"),
            "abcfed"
        );
        assert_eq!(plain_text("é€😀"), "é€😀");
    }

    #[test]
    fn long_values_are_cut_with_an_ellipsis() {
        assert_eq!(single_line("abcdef", 4), "abc…");
        assert_eq!(single_line("abcd", 4), "abcd");
        assert_eq!(single_line("ab\ncd", 4), "ab …");
        assert_eq!(
            plain_text(&"x".repeat(100_000)).chars().count(),
            MAX_VALUE_CHARS
        );
        assert_eq!(single_line("abc", 0), "");
    }

    #[test]
    fn slack_markup_from_values_is_inert() {
        assert_eq!(
            slack_mrkdwn("a`<!channel>&<https://evil.example|Re-authenticate>", 200),
            "a'&lt;!channel&gt;&amp;&lt;https://evil.example|Re-authenticate&gt;"
        );
        assert_eq!(
            slack_mrkdwn("[Re-authenticate](https://evil.example)", 200),
            "(Re-authenticate)(https://evil.example)"
        );
        assert_eq!(
            slack_mrkdwn("@here @Channel @everyone ops@example.com role/a@b", 200),
            "＠here ＠Channel ＠everyone ops@example.com role/a@b"
        );
    }

    #[test]
    fn slack_values_are_cut_before_escaping() {
        let s = slack_mrkdwn(&"<".repeat(10), 4);
        assert_eq!(s, "&lt;&lt;&lt;…");
    }
}
