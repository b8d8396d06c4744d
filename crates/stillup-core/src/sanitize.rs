//! The one gate between the world and a terminal.
//!
//! Every string that a server, a certificate, a resolver, a library error or the user's
//! environment controls reaches human output through [`sanitize`]: control characters (C0
//! including CR, LF and TAB, DEL, C1, ESC) and the Unicode bidi controls are made visible
//! (`\x1b`, `\r`, `\u{9b}`, `\u{202e}`), and the text is cut to [`MAX_CHARS`] characters,
//! ending in "…". So no server can clear the screen, set the window title, forge a
//! "✓ … is healthy" line or flood the log. A failure is printed through [`display_safe`],
//! which runs each of its texts through the gate; whatever is printed comes out as a [`Safe`].
//!
//! Credentials are hidden first (`redact.rs`): the gate never lets a secret through either.
//! JSON keeps the exact text (serde escapes it); the HTML report escapes by its own rules.

use std::fmt;
use std::fmt::Write as _;

use crate::failure::Failure;
use crate::redact::redact_url;

/// Longest text from the world that is shown, in characters (the "…" included).
pub const MAX_CHARS: usize = 200;

/// Longest line stillup composes around such texts (a failure message, a timeline): each text
/// inside is already cut to [`MAX_CHARS`]; this bounds the whole.
pub const MAX_LINE_CHARS: usize = 1000;

/// Make `text` safe for a terminal: control and bidi characters made visible, at most
/// [`MAX_CHARS`] characters.
pub fn sanitize(text: &str) -> String {
    sanitize_to(text, MAX_CHARS)
}

/// [`sanitize`], cut at `max` characters instead (at least 1; "…" included).
pub fn sanitize_to(text: &str, max: usize) -> String {
    let max = max.max(1);
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut count = 0;
    let mut piece = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        piece.clear();
        escape(c, &mut piece);
        let len = piece.chars().count();
        // Room stays for the "…", unless this is the last character and fits whole.
        let last = chars.peek().is_none();
        if count + len > max - 1 && !(last && count + len <= max) {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
        count += len;
    }
    out
}

/// Append `c`, or its visible escape when a terminal would act on it.
fn escape(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\0'..='\x1f' | '\x7f' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        // C1 controls (CSI \u{9b} among them), bidi embeddings, overrides and isolates, and
        // the Unicode line and paragraph separators.
        '\u{80}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// Text that went through the gate: credentials hidden, safe for a terminal. The only way
/// the human renderers print text the world controls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Safe(String);

impl Safe {
    /// A text the world controls (a name, a label, a value): redacted, then sanitized.
    pub fn text(world: &str) -> Safe {
        Safe(sanitize(&redact_url(world)))
    }

    /// A line stillup composed around texts from the world (a timeline, a summary):
    /// redacted, then sanitized and cut at [`MAX_LINE_CHARS`].
    pub fn line(composed: &str) -> Safe {
        Safe(sanitize_to(&redact_url(composed), MAX_LINE_CHARS))
    }

    /// The safe text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Safe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:<62}` and friends pad it like any string.
        f.pad(&self.0)
    }
}

/// A failure's message, for a human: each text it carries (server, certificate, resolver or
/// library text) redacted and sanitized, then the message as a whole bounded.
pub fn display_safe(failure: &Failure) -> Safe {
    let mut clean = failure.clone();
    for text in clean.texts_mut() {
        *text = sanitize(&redact_url(text));
    }
    Safe::line(&clean.to_string())
}

/// Whether a terminal would act on `c`: control (C0, DEL, C1) and bidi characters, and the
/// Unicode line and paragraph separators.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Write `value` as pretty JSON that is also safe on a terminal: JSON keeps the exact text,
/// and besides what serde escapes (C0, `"`, `\`), DEL, C1 and bidi characters are written
/// as `\uXXXX` escapes — the same text to any JSON reader, inert on a terminal.
pub fn write_json<W: std::io::Write>(
    writer: W,
    value: &impl serde::Serialize,
) -> serde_json::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(writer, TerminalSafe::default());
    value.serialize(&mut serializer)
}

/// serde_json's pretty printer, escaping what a terminal would act on.
#[derive(Debug, Default)]
struct TerminalSafe(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_terminal_safe(text: &str) -> bool {
        !text.chars().any(|c| {
            c.is_control()
                || matches!(
                    c,
                    '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
                )
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
    }

    #[test]
    fn control_characters_are_made_visible() {
        assert_eq!(
            sanitize("\x1b[2J\x1b]0;title\x07\r\n✓ ok\tx\x7f\u{9b}31m\u{202e}\0"),
            "\\x1b[2J\\x1b]0;title\\x07\\r\\n✓ ok\\tx\\x7f\\u{9b}31m\\u{202e}\\x00"
        );
        assert_eq!(sanitize("plain — text é 🙂"), "plain — text é 🙂");
    }

    #[test]
    fn long_text_is_cut_to_the_limit_with_an_ellipsis() {
        let exact = "a".repeat(MAX_CHARS);
        assert_eq!(sanitize(&exact), exact);
        let long = "é".repeat(3000);
        let cut = sanitize(&long);
        assert_eq!(cut.chars().count(), MAX_CHARS);
        assert!(cut.ends_with('…'));
        // Escapes count as what they print, and are never cut in half.
        let escapes = "\x1b".repeat(100);
        let cut = sanitize(&escapes);
        assert!(cut.chars().count() <= MAX_CHARS, "{cut}");
        assert!(cut.ends_with("\\x1b…"), "{cut}");
        assert_eq!(sanitize_to("abcdef", 3), "ab…");
        assert_eq!(sanitize_to("abc", 3), "abc");
    }

    #[test]
    fn json_keeps_the_exact_text_and_escapes_what_a_terminal_acts_on() {
        let text = "\x1b[2J\u{9b}31m\u{202e}x\x7f é \\ \"";
        let mut out = Vec::new();
        write_json(&mut out, &serde_json::json!({ "m": text })).unwrap();
        let written = String::from_utf8(out).unwrap();
        assert!(
            !written.chars().any(|c| is_unsafe(c) && c != '\n'),
            "{written}"
        );
        assert!(
            written.contains("\\u009b") && written.contains("\\u202e"),
            "{written}"
        );
        let back: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(back["m"], text);
    }

    #[test]
    fn safe_text_is_redacted_and_sanitized() {
        let safe = Safe::text("http://u:p/q@h/?token=t\x1b[31m");
        assert_eq!(safe.as_str(), "http://<redacted>@h/?token=<redacted>");
        assert_eq!(format!("[{:<6}]", Safe::text("ab")), "[ab    ]");
    }

    #[test]
    fn failures_from_hostile_servers_print_on_one_bounded_line() {
        let hostile = format!(
            "\x1b[2J\x1b[31mPWNED\r\n✓ http://x is healthy{}",
            "A".repeat(3000)
        );
        let failures = [
            Failure::GrpcStatus {
                code: 14,
                message: hostile.clone(),
            },
            Failure::InvalidResponse {
                detail: hostile.clone(),
            },
            Failure::ConditionFailed {
                status: 200,
                condition: "/ok/".into(),
                expected: "/ok/".into(),
                actual: hostile.clone(),
                reason: format!("body does not match /ok/: {hostile}"),
            },
            Failure::TlsVerify {
                reason: crate::failure::CertProblem::WrongName,
                detail: hostile.clone(),
            },
        ];
        for failure in failures {
            let shown = display_safe(&failure);
            assert!(is_terminal_safe(shown.as_str()), "{shown}");
            assert!(shown.as_str().chars().count() < 400, "{shown}");
            assert!(shown.as_str().contains("\\x1b[2J"), "{shown}");
        }
        // Our own long hints are kept whole.
        let own = Failure::TlsVerify {
            reason: crate::failure::CertProblem::UnknownIssuer,
            detail: "signed by an authority stillup does not trust (self-signed, a private CA, or an incomplete chain); trust a private CA with --cacert".into(),
        };
        assert!(display_safe(&own).as_str().ends_with("--cacert"));
    }
}
