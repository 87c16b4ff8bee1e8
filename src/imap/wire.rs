//! The real connection as the IMAP framing's byte source.

use std::io::{self, Write};

use super::framing::{LineRead, Wire};
use crate::net::conn::{self, Connection};

impl Wire for Connection {
    fn read_line(&mut self, max: usize) -> io::Result<LineRead> {
        Ok(match Connection::read_line(self, max)? {
            conn::LineRead::Line(line) => LineRead::Line(line),
            conn::LineRead::TooLong => LineRead::TooLong,
            conn::LineRead::Eof => LineRead::Eof,
        })
    }

    fn read_exact_into(&mut self, n: u64, sink: &mut dyn Write) -> io::Result<()> {
        Connection::read_exact_into(self, n, sink)
    }

    fn discard(&mut self, n: u64) -> io::Result<()> {
        Connection::discard(self, n)
    }

    fn send_continuation(&mut self, text: &str) -> io::Result<()> {
        self.write_all(format!("+ {text}\r\n").as_bytes())?;
        self.flush()
    }
}
