//! What makes two errors "the same": the message with its variable parts collapsed and the top
//! in-app stack frame, hashed into a fingerprint.
//!
//! The normaliser replaces URLs with `<url>`, quoted values with `<str>`, ids (UUIDs, hex runs of 8
//! or more, tokens mixing letters and digits) with `<id>` and numbers with `<n>`, then collapses
//! whitespace: `Cannot read properties of undefined (reading 'id') at 42` and `... (reading 'name')
//! at 7` are one error. The frame is the first stack frame from the page's own host (an in-app
//! frame; else the first frame that is not a browser extension's), as `function file`, with
//! content hashes in the file name collapsed and line and column left out: they move with every
//! build, and a fingerprint should survive a deploy.

/// Longest normalised message kept (bytes, cut at a character boundary).
pub const MAX_NORMALISED_BYTES: usize = 200;

/// Collapses the variable parts of an error message (see the module docs).
pub fn normalise_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_NORMALISED_BYTES));
    let mut rest = message;
    while let Some(character) = rest.chars().next() {
        if out.len() >= MAX_NORMALISED_BYTES {
            break;
        }
        if let Some(after) = strip_url(rest) {
            out.push_str("<url>");
            rest = after;
            continue;
        }
        if matches!(character, '\'' | '"' | '`')
            && let Some(close) = rest[1..].find(character)
        {
            out.push_str("<str>");
            rest = &rest[1 + close + 1..];
            continue;
        }
        if character.is_alphanumeric() || character == '_' || character == '-' {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            let word = &rest[..end];
            push_word(&mut out, word);
            rest = &rest[end..];
            continue;
        }
        if character.is_whitespace() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(character);
        }
        rest = &rest[character.len_utf8()..];
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    cut(&mut out, MAX_NORMALISED_BYTES);
    out
}

/// `http://...`, `https://...` up to whitespace or a closing bracket/quote: the rest after it.
fn strip_url(text: &str) -> Option<&str> {
    let scheme = ["https://", "http://", "blob:", "data:"]
        .into_iter()
        .find(|scheme| {
            text.get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        })?;
    let body = &text[scheme.len()..];
    let end = body
        .find(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '>' | '"' | '\'' | '`'))
        .unwrap_or(body.len());
    Some(&body[end..])
}

/// A word: a number, an id, or kept as it is (`-` and `_` join words: `x-1f2e` is one token).
fn push_word(out: &mut String, word: &str) {
    let digits = word.bytes().filter(u8::is_ascii_digit).count();
    let token = if digits > 0 && (digits == word.len() || is_number(word)) {
        "<n>"
    } else if digits > 0 && (word.len() >= 8 || is_hex_id(word)) {
        "<id>"
    } else {
        out.push_str(word);
        return;
    };
    out.push_str(token);
}

/// Digits joined by `-` or `_` (`-5`, `10-20`, `1_000`): one `<n>`.
fn is_number(word: &str) -> bool {
    word.bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b'-' || byte == b'_')
}

/// Hex runs of 8 or more (`deadbeef`), UUIDs (`550e8400-e29b-...`).
fn is_hex_id(word: &str) -> bool {
    let hex = word.bytes().filter(u8::is_ascii_hexdigit).count();
    hex >= 8
        && word
            .bytes()
            .all(|byte| byte.is_ascii_hexdigit() || byte == b'-')
}

fn cut(text: &mut String, max_bytes: usize) {
    if text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// The top in-app frame of a stack (Chrome's `at f (url:1:2)`, Firefox's and Safari's
/// `f@url:1:2`), as `function file`; `None` when the stack has no frame.
pub fn top_frame(stack: &str, page_host: &str) -> Option<String> {
    let mut fallback = None;
    for line in stack.lines() {
        let Some((function, location)) = parse_frame(line.trim()) else {
            continue;
        };
        let (host, path) = split_location(location);
        if is_extension(location) {
            continue;
        }
        let frame = format!("{} {}", function_name(function), collapse_hashes(path));
        if !page_host.is_empty() && host.eq_ignore_ascii_case(page_host) {
            return Some(frame);
        }
        fallback.get_or_insert(frame);
    }
    fallback
}

/// (function, location) of one frame line, location still with `:line:col`.
fn parse_frame(line: &str) -> Option<(&str, &str)> {
    if let Some(rest) = line.strip_prefix("at ") {
        // `at f (url:1:2)`, `at url:1:2`, `at async f (url:1:2)`
        let rest = rest.strip_prefix("async ").unwrap_or(rest);
        return Some(match (rest.rfind(" ("), rest.ends_with(')')) {
            (Some(open), true) => (&rest[..open], &rest[open + 2..rest.len() - 1]),
            _ => ("", rest),
        });
    }
    // `f@url:1:2`, `@url:1:2`
    let at = line.find('@')?;
    let location = &line[at + 1..];
    location.contains(':').then(|| (&line[..at], location))
}

fn is_extension(location: &str) -> bool {
    [
        "chrome-extension:",
        "moz-extension:",
        "safari-extension:",
        "safari-web-extension:",
    ]
    .iter()
    .any(|scheme| location.starts_with(scheme))
}

/// The host and the path (without query, fragment, line and column) of a frame's location.
fn split_location(location: &str) -> (&str, &str) {
    let without_position = strip_position(location);
    let after_scheme = without_position
        .find("://")
        .map_or(without_position, |index| &without_position[index + 3..]);
    let (host, path) = match after_scheme.find('/') {
        Some(slash) => (&after_scheme[..slash], &after_scheme[slash..]),
        None => (after_scheme, ""),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    (host, path)
}

/// `url:12:34` -> `url` (one or two trailing `:digits`).
fn strip_position(location: &str) -> &str {
    let mut end = location;
    for _ in 0..2 {
        match end.rfind(':') {
            Some(colon)
                if colon + 1 < end.len()
                    && end[colon + 1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                end = &end[..colon];
            }
            _ => break,
        }
    }
    end
}

fn function_name(function: &str) -> &str {
    let name = function.trim();
    if name.is_empty() { "<anonymous>" } else { name }
}

/// `/static/js/main.3f2a1b9c.js` -> `/static/js/main.<h>.js`: dot- or dash-separated parts of 6 or
/// more characters that mix letters and digits are build hashes.
fn collapse_hashes(path: &str) -> String {
    let file_start = path.rfind('/').map_or(0, |slash| slash + 1);
    let (directory, file) = path.split_at(file_start);
    let mut out = String::with_capacity(path.len());
    out.push_str(directory);
    let mut first = true;
    for part in file.split('.') {
        if !first {
            out.push('.');
        }
        first = false;
        let mut first_piece = true;
        for piece in part.split('-') {
            if !first_piece {
                out.push('-');
            }
            first_piece = false;
            let digits = piece.bytes().any(|byte| byte.is_ascii_digit());
            let letters = piece.bytes().any(|byte| byte.is_ascii_alphabetic());
            if piece.len() >= 6
                && digits
                && letters
                && piece.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                out.push_str("<h>");
            } else {
                out.push_str(piece);
            }
        }
    }
    out
}

/// A stable 64-bit fingerprint of (kind, normalised message, frame): FNV-1a with a separator
/// between the parts, the same on every worker and across restarts.
pub fn fingerprint(kind: &str, normalised: &str, frame: &str) -> u64 {
    let mut hash = rum_schema::stable_hash::Fnv1a::default();
    for part in [kind, normalised, frame] {
        hash.write(part.as_bytes()).write(&[0xff]);
    }
    hash.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_parts_of_messages_collapse() {
        let cases = [
            (
                "TypeError: Cannot read properties of undefined (reading 'id')",
                "TypeError: Cannot read properties of undefined (reading <str>)",
            ),
            (
                "Failed to fetch https://api.example.com/orders/123?x=1 after 3 tries",
                "Failed to fetch <url> after <n> tries",
            ),
            (
                "Order 550e8400-e29b-41d4-a716-446655440000 not found",
                "Order <id> not found",
            ),
            ("token deadbeef99 expired", "token <id> expired"),
            ("user u_12ab34cd  missing", "user <id> missing"),
            ("Timeout of 1500ms exceeded", "Timeout of 1500ms exceeded"),
            (
                "value 3.14 out of range -2..7",
                "value <n>.<n> out of range <n>..<n>",
            ),
            (
                "Unexpected token \"<\" in JSON at position 0",
                "Unexpected token <str> in JSON at position <n>",
            ),
            ("  spaced\n\tout  ", "spaced out"),
            ("Ошибка 42 в модуле", "Ошибка <n> в модуле"),
        ];
        for (message, expected) in cases {
            assert_eq!(normalise_message(message), expected, "{message}");
        }
        // Same error, other values: same text.
        assert_eq!(
            normalise_message("Item 17 of cart 'a1' failed"),
            normalise_message("Item 9 of cart 'zz' failed")
        );
        // An unclosed quote is kept as a character.
        assert_eq!(normalise_message("it's 5"), "it's <n>");
    }

    #[test]
    fn normalised_messages_are_bounded() {
        let long = "word ".repeat(1000);
        assert!(normalise_message(&long).len() <= MAX_NORMALISED_BYTES);
        let wide = "é".repeat(500);
        let normalised = normalise_message(&wide);
        assert!(normalised.len() <= MAX_NORMALISED_BYTES);
    }

    #[test]
    fn the_top_in_app_frame_is_found_in_each_browser_format() {
        let chrome = "TypeError: x is undefined\n    at https://cdn.other.net/lib.js:1:200\n    at checkout (https://shop.example.com/static/js/main.3f2a1b9c.js:1:4242)\n    at https://shop.example.com/app.js:10:5";
        assert_eq!(
            top_frame(chrome, "shop.example.com").as_deref(),
            Some("checkout /static/js/main.<h>.js")
        );
        let firefox = "checkout@https://shop.example.com/static/app-9a8b7c6d.js:1:4242\n@https://shop.example.com/x.js:2:3";
        assert_eq!(
            top_frame(firefox, "shop.example.com").as_deref(),
            Some("checkout /static/app-<h>.js")
        );
        let anonymous = "Error: boom\n    at https://shop.example.com/app.js?v=2:10:5";
        assert_eq!(
            top_frame(anonymous, "shop.example.com").as_deref(),
            Some("<anonymous> /app.js")
        );
        // No in-app frame: the first one that is not an extension's.
        let foreign = "Error\n    at chrome-extension://abc/x.js:1:1\n    at f (https://cdn.other.net/lib.js:1:2)";
        assert_eq!(
            top_frame(foreign, "shop.example.com").as_deref(),
            Some("f /lib.js")
        );
        assert_eq!(top_frame("no frames here", "shop.example.com"), None);
        assert_eq!(top_frame("", ""), None);
    }

    #[test]
    fn a_deploy_keeps_the_fingerprint_and_another_place_changes_it() {
        let before = top_frame("at pay (https://s.io/main.1a2b3c4d.js:1:100)", "s.io").unwrap();
        let after = top_frame("at pay (https://s.io/main.9f8e7d6c.js:1:180)", "s.io").unwrap();
        let message = normalise_message("Payment 42 failed");
        assert_eq!(
            fingerprint("error", &message, &before),
            fingerprint("error", &message, &after)
        );
        let elsewhere =
            top_frame("at refund (https://s.io/main.1a2b3c4d.js:1:900)", "s.io").unwrap();
        assert_ne!(
            fingerprint("error", &message, &before),
            fingerprint("error", &message, &elsewhere)
        );
        // The parts are separated: moving text between them changes the hash.
        assert_ne!(fingerprint("a", "bc", ""), fingerprint("ab", "c", ""));
    }
}
