//! SMAP's command syntax (smap.sgml, "Words"): a command is one line of words separated by
//! spaces, tabs or CRs; a word with a space or a quote is written between quotes, a quote
//! inside it doubled (`"Learning the ""ABC""'s"`), `""` is the empty word. The same rules
//! write the words of the replies.

/// Why a command line is not a list of words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordError {
    /// A control character (U+0000-U+001F other than tab and CR) in the line.
    Control,
    /// A quoted word that the line ends inside.
    Unterminated,
    /// Bytes that are not UTF-8 (SMAP commands are UTF-8).
    NotUtf8,
}

/// Splits one command line (without its LF) into words.
pub fn parse_line(line: &[u8]) -> Result<Vec<String>, WordError> {
    let line = std::str::from_utf8(line).map_err(|_| WordError::NotUtf8)?;
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| is_space(*c)).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(words);
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(WordError::Unterminated),
                    Some('"') if chars.next_if_eq(&'"').is_some() => word.push('"'),
                    Some('"') => break,
                    Some(c) if is_control(c) => return Err(WordError::Control),
                    Some(c) => word.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !is_space(*c)) {
                if is_control(c) {
                    return Err(WordError::Control);
                }
                word.push(c);
            }
        }
        words.push(word);
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r')
}

fn is_control(c: char) -> bool {
    (c as u32) < 0x20 && !is_space(c)
}

/// A word as a reply carries it: always quoted, as Courier writes every text word of its
/// replies (folder names, `UID=...`, `MIME.ID=...`), quotes doubled.
pub fn quoted(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// One word of a message list: `n` or `m-n` (m <= n), 1-based.
pub fn message_range(word: &str) -> Option<(u32, u32)> {
    let number = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().filter(|n| *n > 0)
    };
    match word.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            (a <= b).then_some((a, b))
        }
        None => number(word).map(|n| (n, n)),
    }
}

/// A comma-separated list of ranges (SEARCH's message set: `1-5,15-20`).
pub fn range_list(word: &str) -> Option<Vec<(u32, u32)>> {
    word.split(',').map(message_range).collect()
}

/// Ascending numbers as SMAP lists them: runs as `a-b`, at most `per_line` words a line.
pub fn ranges(numbers: &[u32]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end + 1 {
            i += 1;
            end = numbers[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_and_spaces() {
        let w = parse_line(br#"CREATE "Important Mail" 2002 "Learning the ""ABC""'s" "" """""#)
            .unwrap();
        assert_eq!(
            w,
            [
                "CREATE",
                "Important Mail",
                "2002",
                "Learning the \"ABC\"'s",
                "",
                "\""
            ]
        );
        assert_eq!(parse_line(b"  NOOP\t\r").unwrap(), ["NOOP"]);
        assert_eq!(parse_line(b"\"abc").unwrap_err(), WordError::Unterminated);
        assert_eq!(parse_line(b"a\x01b").unwrap_err(), WordError::Control);
        assert_eq!(parse_line(b"\xff").unwrap_err(), WordError::NotUtf8);
    }

    #[test]
    fn quoting_round_trips() {
        for w in ["", "a b", "\"", "x\"\"y", "plain"] {
            assert_eq!(parse_line(quoted(w).as_bytes()).unwrap(), [w]);
        }
    }

    #[test]
    fn message_ranges() {
        assert_eq!(message_range("7"), Some((7, 7)));
        assert_eq!(message_range("3-5"), Some((3, 5)));
        assert_eq!(message_range("5-3"), None);
        assert_eq!(message_range("0"), None);
        assert_eq!(message_range("x"), None);
        assert_eq!(range_list("1-2,4"), Some(vec![(1, 2), (4, 4)]));
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), ["1-3", "5", "7-8"]);
    }
}
