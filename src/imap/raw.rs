//! What the framing hands the parser and what both hand the session: one command's pieces
//! as read off the wire ([`RawCommand`]) and why no command came out ([`CommandError`]).
//! Apart from both so that [`super::framing`] (which calls the parser) and
//! [`super::parser`] (which reports errors the same way) import it and not each other.

use std::io;

use super::command::LiteralData;

/// Why no command came out; see [`CommandError::tag`] and [`ErrorKind`] for the answer.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct CommandError {
    /// The command's tag when it could be read: answer `tag BAD ...`, else `* BAD ...`.
    pub tag: Option<String>,
    pub kind: ErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// Answer `BAD reason` and read the next command.
    #[error("{0}")]
    BadSyntax(String),
    /// A line or literal over the limits; nothing of the command is left on the wire.
    /// Answer `BAD [TOOBIG] reason` (or `NO [TOOBIG]` for APPEND, RFC 7889) and go on.
    #[error("{0}")]
    TooBig(String),
    /// The client closed the connection (possibly in the middle of a command).
    #[error("connection closed")]
    Eof,
    /// The connection failed (includes timeouts); give up on it.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<io::Error> for CommandError {
    fn from(e: io::Error) -> CommandError {
        let kind = if e.kind() == io::ErrorKind::UnexpectedEof {
            ErrorKind::Eof
        } else {
            ErrorKind::Io(e)
        };
        CommandError { tag: None, kind }
    }
}

impl CommandError {
    pub fn new(tag: Option<String>, kind: ErrorKind) -> CommandError {
        CommandError { tag, kind }
    }

    pub fn bad(tag: Option<&str>, why: impl Into<String>) -> CommandError {
        CommandError {
            tag: tag.map(str::to_owned),
            kind: ErrorKind::BadSyntax(why.into()),
        }
    }

    /// Whether the session can answer and read the next command (false: close).
    pub fn is_recoverable(&self) -> bool {
        matches!(self.kind, ErrorKind::BadSyntax(_) | ErrorKind::TooBig(_))
    }
}

/// One command as it came off the wire: `lines[0]`, `literals[0]`, `lines[1]`, ...,
/// `lines[last]`. Every line but the last ends with the literal marker that announced the
/// literal after it (`{5}`, `{5+}`, `~{5}`), line ends removed.
#[derive(Debug, PartialEq)]
pub struct RawCommand {
    pub lines: Vec<Vec<u8>>,
    pub literals: Vec<LiteralData>,
}
