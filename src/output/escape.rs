//! Escaping of untrusted strings (test names, messages, branch names) for each medium.

use std::borrow::Cow;

/// For a terminal or a CI log: control characters (ANSI escape sequences, carriage returns,
/// bells…) are shown as `\u{…}` so a test name cannot rewrite the screen. Newlines become
/// `⏎` so one item stays on one line.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || is_bidi(c)) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push('⏎'),
            '\t' => out.push(' '),
            c if c.is_control() || is_bidi(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.into()
}

/// Unicode bidirectional overrides, which can make text display differently than it reads.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// For Markdown inline text that GitHub renders (job summary, comments): HTML is escaped and
/// every Markdown punctuation character is backslash-escaped, so a test name can neither
/// inject markup nor links, mentions or tables.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.'
            | '!' | '|' | '~' | '@' | ':' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || is_bidi(c) => out.push_str(&format!("&#x{:x};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// For text inside an HTML element (`<pre>`, `<code>` in a `<details>` block).
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                out.push_str(&format!("&#x{:x};", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// For the message of a GitHub workflow command (`::error ...::MESSAGE`), per the runner's
/// escaping rules: `%` → `%25`, CR → `%0D`, LF → `%0A`.
pub fn workflow_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// For a property value of a workflow command (`file=`, `title=`): as
/// [`workflow_data`] plus `:` → `%3A` and `,` → `%2C`.
pub fn workflow_property(s: &str) -> String {
    workflow_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_neutralises_escape_sequences() {
        assert_eq!(terminal("plain"), "plain");
        assert_eq!(terminal("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb⏎c");
        assert_eq!(terminal("x\u{202e}y"), "x\\u{202e}y");
    }

    #[test]
    fn markdown_cannot_inject_markup() {
        assert_eq!(
            markdown("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert\\(1\\)&gt;"
        );
        assert_eq!(
            markdown("a|b [x](http://e) @team"),
            "a\\|b \\[x\\]\\(http\\://e\\) \\@team"
        );
        assert_eq!(markdown("line\nbreak"), "line break");
    }

    #[test]
    fn workflow_commands_are_escaped_per_runner_rules() {
        assert_eq!(workflow_data("50%\r\nnext::x"), "50%25%0D%0Anext::x");
        assert_eq!(workflow_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn html_escapes_everything_that_can_open_markup() {
        assert_eq!(
            html("<script>&'\"</script>"),
            "&lt;script&gt;&amp;&#39;&quot;&lt;/script&gt;"
        );
    }
}
