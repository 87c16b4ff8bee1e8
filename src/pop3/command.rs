//! POP3 command lines (RFC 1939, 2449, 5034): a case-insensitive keyword and arguments
//! separated by spaces.

/// A message number as the client wrote it: digits only. Numbers too large for u64 are
/// kept as `u64::MAX`, which no message has.
pub type MsgNum = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    /// `AUTH` alone lists the mechanisms; else the mechanism and an initial response.
    Auth {
        mechanism: Option<String>,
        initial: Option<String>,
    },
    Capa,
    /// STLS (RFC 2595 §4).
    Stls,
    Quit,
    Stat,
    List(Option<MsgNum>),
    Retr(MsgNum),
    Dele(MsgNum),
    Noop,
    Rset,
    Top(MsgNum, u64),
    Uidl(Option<MsgNum>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Unknown,
    /// Bad or missing arguments; the text says which.
    Syntax(&'static str),
}

fn number(word: &str) -> Option<u64> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(word.parse().unwrap_or(u64::MAX))
}

/// Parse one line (without its CRLF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let Ok(line) = std::str::from_utf8(line) else {
        return Err(ParseError::Syntax("the command is not UTF-8"));
    };
    let (keyword, rest) = match line.split_once(' ') {
        Some((k, r)) => (k, r),
        None => (line, ""),
    };
    let keyword = keyword.to_ascii_uppercase();
    let args: Vec<&str> = rest.split_ascii_whitespace().collect();
    let no_args = |c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax("this command takes no arguments"))
        }
    };
    let msg = |i: usize| -> Result<MsgNum, ParseError> {
        args.get(i)
            .and_then(|w| number(w))
            .ok_or(ParseError::Syntax("expected a message number"))
    };
    let at_most = |n: usize| {
        if args.len() > n {
            Err(ParseError::Syntax("too many arguments"))
        } else {
            Ok(())
        }
    };
    match keyword.as_str() {
        // User names and passwords may hold spaces: the argument is the rest of the line.
        "USER" if !rest.is_empty() => Ok(Command::User(rest.to_owned())),
        "USER" => Err(ParseError::Syntax("USER needs a user name")),
        "PASS" if !rest.is_empty() => Ok(Command::Pass(rest.to_owned())),
        "PASS" => Err(ParseError::Syntax("PASS needs a password")),
        "AUTH" => {
            at_most(2)?;
            Ok(Command::Auth {
                mechanism: args.first().map(|s| s.to_string()),
                initial: args.get(1).map(|s| s.to_string()),
            })
        }
        "CAPA" => no_args(Command::Capa),
        "STLS" => no_args(Command::Stls),
        "QUIT" => no_args(Command::Quit),
        "STAT" => no_args(Command::Stat),
        "NOOP" => no_args(Command::Noop),
        "RSET" => no_args(Command::Rset),
        "LIST" | "UIDL" => {
            at_most(1)?;
            let n = if args.is_empty() { None } else { Some(msg(0)?) };
            Ok(if keyword == "LIST" {
                Command::List(n)
            } else {
                Command::Uidl(n)
            })
        }
        "RETR" | "DELE" => {
            at_most(1)?;
            let n = msg(0)?;
            Ok(if keyword == "RETR" {
                Command::Retr(n)
            } else {
                Command::Dele(n)
            })
        }
        "TOP" => {
            at_most(2)?;
            let n = msg(0)?;
            let lines = args
                .get(1)
                .and_then(|w| number(w))
                .ok_or(ParseError::Syntax("expected a number of lines"))?;
            Ok(Command::Top(n, lines))
        }
        _ => Err(ParseError::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_arguments() {
        assert_eq!(parse(b"stat"), Ok(Command::Stat));
        assert_eq!(parse(b"LIST"), Ok(Command::List(None)));
        assert_eq!(parse(b"list 3"), Ok(Command::List(Some(3))));
        assert_eq!(parse(b"UIDL 12"), Ok(Command::Uidl(Some(12))));
        assert_eq!(parse(b"TOP 1 0"), Ok(Command::Top(1, 0)));
        assert_eq!(
            parse(b"RETR 99999999999999999999999"),
            Ok(Command::Retr(u64::MAX))
        );
        assert_eq!(parse(b"USER a b"), Ok(Command::User("a b".into())));
        assert_eq!(
            parse(b"PASS  sp ace "),
            Ok(Command::Pass(" sp ace ".into()))
        );
        assert_eq!(
            parse(b"AUTH PLAIN AGEAYg=="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("AGEAYg==".into())
            })
        );
        assert_eq!(
            parse(b"AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse(b"XYZZY"), Err(ParseError::Unknown));
        assert_eq!(parse(b""), Err(ParseError::Unknown));
        assert!(matches!(parse(b"RETR"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"RETR x"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"RETR -1"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"DELE 1 2"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"TOP 1"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"STAT 1"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"USER"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"PASS"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"USER \xff"), Err(ParseError::Syntax(_))));
    }
}
