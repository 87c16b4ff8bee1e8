//! Courier's `ACL` command (the ACL2 draft its Cone client speaks):
//! `ACL STORE <mailboxes> <identifier> <rights>`, `ACL DELETE <mailboxes> <identifier>`,
//! `ACL SET <mailboxes> <identifier> <rights> [<identifier> <rights> ...]`, where
//! `<mailboxes>` is one mailbox or a parenthesized list.

use super::{PResult, Parser};
use crate::imap::command::{AclVerb, CommandBody};

impl Parser {
    pub(super) fn courier_acl(&mut self) -> PResult<CommandBody> {
        self.sp()?;
        let verb = match self.keyword()?.as_str() {
            "STORE" => AclVerb::Store,
            "DELETE" => AclVerb::Delete,
            "SET" => AclVerb::Set,
            other => return Err(format!("ACL {other} is not an ACL command")),
        };
        self.sp()?;
        let mut mailboxes = Vec::new();
        if self.eat(b'(') {
            loop {
                mailboxes.push(self.mailbox()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            mailboxes.push(self.mailbox()?);
        }
        let mut args = Vec::new();
        while self.eat(b' ') {
            args.push(self.astring_utf8("identifier or rights")?);
        }
        let wanted_ok = match verb {
            AclVerb::Store => args.len() == 2,
            AclVerb::Delete => args.len() == 1,
            AclVerb::Set => !args.is_empty() && args.len() % 2 == 0,
        };
        if !wanted_ok {
            return Err(format!("ACL {} takes other arguments", verb.name()));
        }
        Ok(CommandBody::Acl {
            verb,
            mailboxes,
            args,
        })
    }
}
