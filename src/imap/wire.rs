//! The real connection as the IMAP framing's byte source. Lines come back as the
//! connection reads them ([`crate::net::conn::LineRead`] is the one type for both).

use std::io::{self, Write};

use super::framing::Wire;
use crate::net::conn::{Connection, LineRead};

impl Wire for Connection {
    fn read_line(&mut self, max: usize) -> io::Result<LineRead> {
        Connection::read_line(self, max)
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
