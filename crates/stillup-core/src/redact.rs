//! The one place credentials are hidden.
//!
//! Passwords in URL userinfo, `Authorization`, `Proxy-Authorization` and cookie headers
//! live in a [`Secret`], whose `Debug` and `Display` never show the value. Text that might
//! hold a credential goes through [`redact_url`] (free text: messages, URLs a server sent) or
//! [`redact_value`] (one value as the user typed it) before any output, human or machine.
//!
//! Redaction goes by structure, never by whether the text parses: a password may hold any
//! character, `/ # ? @ :` included, so the userinfo ends at the LAST `@` of the URL, and when
//! that is ambiguous more is hidden, never less. Values of query parameters whose name looks
//! like a credential ([`is_sensitive_name`]) are hidden too. Making text safe for a terminal
//! is `sanitize.rs`'s job, not this one's.

use std::fmt;
use std::sync::RwLock;

/// What is printed in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// A value that must never be printed: only [`Secret::expose`] gives it out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap `value`; its `Debug` shows only that it is hidden.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for putting on the wire — never for output.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Every credential this process was given (passwords, tokens, sensitive header and query
/// values), so that a server echoing one back — in a body excerpt, a JSON value, a
/// `grpc-message`, a redirect — cannot get it printed either.
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Shorter values are too likely to occur by chance to be hidden wherever they appear.
const MIN_KNOWN_LEN: usize = 4;

/// Remember a credential the run was given: from now on every text that goes through
/// [`redact_url`] or [`redact_value`] shows `<redacted>` in its place, also when percent-
/// encoded. Values shorter than 4 characters are hidden by structure only.
pub fn remember(secret: &str) {
    let mut forms = vec![secret.to_string()];
    let encoded = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    forms.push(encoded);
    let Ok(mut known) = KNOWN.write() else {
        return;
    };
    for form in forms {
        if form.chars().count() >= MIN_KNOWN_LEN && !known.contains(&form) {
            known.push(form);
        }
    }
    // Longest first, so a value that holds another is hidden whole.
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
}

/// Remember the credential in a header value: the whole value, and what follows its scheme
/// word (`Bearer eyJ…`, `Basic dXNlcjpwYXNz`).
pub fn remember_header_value(value: &str) {
    remember(value.trim());
    if let Some((_, credential)) = value.trim().split_once(' ') {
        remember(credential.trim());
    }
}

/// Replace every remembered credential in `text`.
fn hide_known(text: String) -> String {
    let Ok(known) = KNOWN.read() else {
        return text;
    };
    let mut text = text;
    for secret in known.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
    }
    text
}

/// Words that make a header or query parameter name a credential's, in any case.
const SENSITIVE_WORDS: &[&str] = &[
    "token",
    "key",
    "secret",
    "pass",
    "pwd",
    "sig",
    "auth",
    "credential",
    "session",
    "cookie",
];

/// Whether a header or query parameter of this name carries a credential: its name contains
/// `token`, `key`, `secret`, `pass`, `pwd`, `sig`, `auth`, `credential`, `session` or
/// `cookie`, in any case (so `Authorization`, `X-Api-Key`, `access_token`, `PHPSESSID`).
pub fn is_sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE_WORDS.iter().any(|word| lower.contains(word))
}

/// Headers whose values are credentials: `Authorization`, `Proxy-Authorization`, `Cookie`,
/// `Set-Cookie`, `X-Api-Key` and any other whose name [`is_sensitive_name`].
pub fn is_sensitive_header(name: &str) -> bool {
    is_sensitive_name(name)
}

/// What ends a URL inside free text: whitespace only, since a password may hold quotes.
fn ends_url_in_text(c: char) -> bool {
    c.is_whitespace()
}

/// Hide credentials in free text (a message, a URL a server sent): the userinfo of every
/// `scheme://…@` (everything between `://` and the last `@` of the URL, whatever it holds)
/// and the values of sensitive query parameters. A URL in free text ends at whitespace.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        let end = after.find(ends_url_in_text).unwrap_or(after.len());
        out.push_str(&hide_userinfo(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    hide_known(redact_query_values(&out, false))
}

/// Hide credentials in one value as the user wrote it (a target, a proxy variable): the whole
/// value is one URL, spaces and all, with or without a scheme; everything between `://` (or
/// the start) and its last `@` is userinfo.
pub fn redact_value(value: &str) -> String {
    let (head, authority) = match value.find("://") {
        Some(pos) => value.split_at(pos + 3),
        None => ("", value),
    };
    let hidden = format!("{head}{}", hide_userinfo(authority));
    hide_known(redact_query_values(&hidden, true))
}

/// `user:pass@host/…` → `<redacted>@host/…`: the userinfo ends at the last `@`. A path or
/// query holding an `@` makes that hide more than the userinfo — when in doubt, more.
fn hide_userinfo(after_scheme: &str) -> String {
    match after_scheme.rfind('@') {
        Some(at) => format!("{REDACTED}{}", &after_scheme[at..]),
        None => after_scheme.to_string(),
    }
}

/// Whether the `@` that ends the userinfo comes after a `/`, `?`, `#` or `\`, where a URL
/// parser ends the authority: `http://u:p/q@host/` is host `u` to a parser, but the user
/// meant the password `p/q`. Such a URL would send a fragment of the password to a host it
/// was not meant for, so it is refused rather than guessed at.
pub fn has_ambiguous_userinfo(value: &str) -> bool {
    let after = value.split_once("://").map_or(value, |(_, rest)| rest);
    let Some(at) = after.rfind('@') else {
        return false;
    };
    after[..at].contains(['/', '?', '#', '\\'])
}

/// Hide the value of every `name=value` after `?`, `&`, `#` or `;` whose (percent-decoded)
/// name [`is_sensitive_name`]. In a single value the parameter value runs to the next `&` or
/// `#`; in free text it also ends at whitespace.
fn redact_query_values(text: &str, single_value: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(['?', '&', '#', ';']) {
        let (before, after) = rest.split_at(pos + 1);
        out.push_str(before);
        rest = after;
        let name_end = after
            .find(|c: char| matches!(c, '=' | '?' | '&' | '#' | ';') || ends_url_in_text(c))
            .unwrap_or(after.len());
        if !after[name_end..].starts_with('=') {
            continue;
        }
        let name = percent_encoding::percent_decode_str(&after[..name_end]).decode_utf8_lossy();
        if !is_sensitive_name(&name) {
            continue;
        }
        let value = &after[name_end + 1..];
        let value_end = value
            .find(|c: char| matches!(c, '&' | '#') || (!single_value && ends_url_in_text(c)))
            .unwrap_or(value.len());
        out.push_str(&after[..=name_end]);
        if value_end > 0 {
            out.push_str(REDACTED);
        }
        rest = &value[value_end..];
    }
    out.push_str(rest);
    out
}

/// What output says about `-- COMMAND ARGS…`: the program alone. Arguments carry tokens
/// (`curl -H 'Authorization: Bearer …'`) and are never shown.
pub fn program_only(command: &[String]) -> &str {
    command.first().map_or("", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_their_userinfo() {
        assert_eq!(
            redact_url("GET http://admin:hunter2@h:1/x?a=b and https://tok@h2/"),
            "GET http://<redacted>@h:1/x?a=b and https://<redacted>@h2/"
        );
        assert_eq!(redact_url("no url here"), "no url here");
        assert_eq!(redact_url("http://h/p"), "http://h/p");
    }

    /// Passwords hold any character; the userinfo ends at the last `@` of the URL, wherever
    /// a parser would end the authority.
    #[test]
    fn a_password_with_slash_hash_question_at_or_colon_is_hidden_whole() {
        for password in ["Zx9/Qk2Lm", "a#b", "a?b", "p@ss", "a:b:c", "/#?@:x", "q\\r"] {
            for text in [
                format!("http://deploy:{password}@127.0.0.1:1/"),
                format!("see \"https://deploy:{password}@h/x?y=1\" now"),
                format!("grpc://deploy:{password}@h:1"),
            ] {
                let shown = redact_url(&text);
                assert!(!shown.contains(password), "{text} → {shown}");
                assert!(shown.contains("<redacted>@"), "{text} → {shown}");
            }
            let value = format!("deploy:{password}@proxy:3128");
            let shown = redact_value(&value);
            assert_eq!(shown, "<redacted>@proxy:3128", "{value}");
            let value = format!("http://deploy:{password} with space@h/");
            assert_eq!(redact_value(&value), "http://<redacted>@h/", "{value}");
        }
        // An `@` in the path hides the host too: more, never less.
        assert_eq!(redact_url("http://h/p@q"), "http://<redacted>@q");
    }

    #[test]
    fn an_at_after_the_authority_is_ambiguous() {
        assert!(has_ambiguous_userinfo(
            "http://deploy:Zx9/Qk2Lm@127.0.0.1:1/"
        ));
        assert!(has_ambiguous_userinfo("http://u:p#x@h/"));
        assert!(has_ambiguous_userinfo("u:p?x@h:1"));
        assert!(has_ambiguous_userinfo("http://h/users/@me"));
        assert!(!has_ambiguous_userinfo("http://u:p@ss@h/x"));
        assert!(!has_ambiguous_userinfo("http://h/x?y=1"));
    }

    #[test]
    fn sensitive_query_values_are_hidden_in_any_case() {
        assert_eq!(
            redact_url("GET http://h/x?Token=abc&page=2&api_key=k1#s"),
            "GET http://h/x?Token=<redacted>&page=2&api_key=<redacted>#s"
        );
        assert_eq!(
            redact_url("to https://h/cb#access_token=t1 then"),
            "to https://h/cb#access_token=<redacted> then"
        );
        assert_eq!(
            redact_url("/a?X-Amz-Signature=s&PASSWORD=p;jsessionid=A"),
            "/a?X-Amz-Signature=<redacted>&PASSWORD=<redacted>"
        );
        // A value runs to the next `&` or `#`: a `?` or `;` inside it hides more, not less.
        assert_eq!(
            redact_url("/app;jsessionid=ABC?x=1&y=2"),
            "/app;jsessionid=<redacted>&y=2"
        );
        // Percent-encoded names are decoded before they are judged.
        assert_eq!(redact_url("?%74oken=abc"), "?%74oken=<redacted>");
        assert_eq!(redact_url("?q=token&x=1"), "?q=token&x=1");
        assert_eq!(redact_url("?auth="), "?auth=");
        // In one value, a space does not end the secret.
        assert_eq!(
            redact_value("http://h/?session=a b&x=1"),
            "http://h/?session=<redacted>&x=1"
        );
    }

    #[test]
    fn sensitive_headers_are_known() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "cookie",
            "Set-Cookie",
            "X-Api-Key",
            "X-Auth-Token",
            "X-Vault-Token",
            "X-Client-Secret",
            "X-Password",
        ] {
            assert!(is_sensitive_header(name), "{name}");
        }
        assert!(!is_sensitive_header("accept"));
        assert!(!is_sensitive_header("content-type"));
    }

    #[test]
    fn remembered_credentials_are_hidden_wherever_a_server_echoes_them() {
        remember("Echo/Secret 1");
        remember_header_value("Bearer eyJEchoToken");
        remember("abc");
        let echoed = redact_url(
            "body: {\"auth\": \"Bearer eyJEchoToken\", \"p\": \"Echo%2FSecret%201\"} Echo/Secret 1",
        );
        assert!(!echoed.contains("eyJEchoToken"), "{echoed}");
        assert!(
            !echoed.contains("Echo/Secret") && !echoed.contains("Echo%2F"),
            "{echoed}"
        );
        // Too short to hide by value: "abc" stays, hidden by structure only.
        assert_eq!(redact_url("abc"), "abc");
    }

    #[test]
    fn commands_show_their_program_only() {
        let argv = ["curl", "-H", "Authorization: Bearer eyJ"].map(String::from);
        assert_eq!(program_only(&argv), "curl");
        assert_eq!(program_only(&[]), "");
    }
}
