//! GETACL SETACL DELETEACL LISTRIGHTS MYRIGHTS (RFC 4314 §3), answered as Courier
//! answers them: mailbox names, identifiers and rights as quoted strings, a login name
//! on the wire is `user=<name>` in the ACL file, rights in Courier's wire letters
//! ([`Rights::to_wire`]). GETACL, SETACL, DELETEACL and LISTRIGHTS need the `a` right
//! (RFC 4314 §4); MYRIGHTS needs any right at all.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::imap::syntax::write_string;
use crate::store::acl::{self, AclError};

/// SETACL and DELETEACL refusals: a change the ACL rules forbid is a NO in Courier's
/// words; anything else is a server problem.
fn acl_refusal(err: AclError) -> Outcome {
    if err.is_invalid() {
        Outcome::no(format!("[CANNOT] {err}"))
    } else {
        log::error!("ACL update failed: {err}");
        Outcome::no("[SERVERBUG] The ACL could not be updated; see the log")
    }
}

/// The identifier the owner of the place's Maildir has in its ACLs, when the login owns
/// it: Courier checks that it keeps `a` and `l` too.
fn owner_identifier(owner: bool, user: &str) -> Option<String> {
    owner.then(|| format!("user={user}"))
}

impl Session<'_> {
    pub fn cmd_getacl(&mut self, wire: &str) -> CommandResult {
        let (place, _) = self.place_with(wire, 'a', "GETACL")?;
        let acl = acl::load(place.maildir.root(), &place.folder).map_err(acl_refusal)?;
        self.out.extend_from_slice(b"* ACL ");
        self.write_quoted_name(&place.name);
        // Courier's GETACL leaves out `group=` entries (RFC 2086 has no groups).
        for (identifier, rights) in acl.entries() {
            let Some(identifier) = acl::identifier_to_wire(identifier) else {
                continue;
            };
            self.out.push(b' ');
            write_string(&mut self.out, identifier.as_bytes());
            self.out.push(b' ');
            write_string(&mut self.out, rights.to_wire().as_bytes());
        }
        self.out.extend_from_slice(b"\r\n");
        Ok(Outcome::ok("GETACL completed"))
    }

    /// SETACL: rights replace the identifier's, or with a leading `+`/`-` are added to or
    /// taken from them (RFC 4314 §3.1).
    pub fn cmd_setacl(&mut self, wire: &str, identifier: &str, rights: &str) -> CommandResult {
        // Checked before the folder's ACL is read (reading may write an inherited list).
        let identifier = acl::identifier_from_wire(identifier).map_err(acl_refusal)?;
        let change = acl::Change::parse(rights, true).map_err(acl_refusal)?;
        let (place, _) = self.place_with(wire, 'a', "SETACL")?;
        let owner = owner_identifier(place.owner, self.user());
        acl::modify(
            place.maildir.root(),
            &place.folder,
            &identifier,
            change,
            true,
            owner.as_deref(),
        )
        .map_err(acl_refusal)?;
        Ok(Outcome::ok("ACLs updated"))
    }

    pub fn cmd_deleteacl(&mut self, wire: &str, identifier: &str) -> CommandResult {
        let identifier = acl::identifier_from_wire(identifier).map_err(acl_refusal)?;
        let (place, _) = self.place_with(wire, 'a', "DELETEACL")?;
        let owner = owner_identifier(place.owner, self.user());
        acl::delete_as(
            place.maildir.root(),
            &place.folder,
            &identifier,
            owner.as_deref(),
        )
        .map_err(acl_refusal)?;
        Ok(Outcome::ok("ACLs updated"))
    }

    pub fn cmd_listrights(&mut self, wire: &str, identifier: &str) -> CommandResult {
        let (place, _) = self.place_with(wire, 'a', "LISTRIGHTS")?;
        let owner_login = place.owner.then(|| self.user().to_string());
        let rest = acl::listrights_wire(identifier, owner_login.as_deref());
        self.out.extend_from_slice(b"* LISTRIGHTS ");
        self.write_quoted_name(&place.name);
        self.out.push(b' ');
        write_string(&mut self.out, identifier.as_bytes());
        self.out
            .extend_from_slice(format!(" {rest}\r\n").as_bytes());
        Ok(Outcome::ok("LISTRIGHTS completed"))
    }

    pub fn cmd_myrights(&mut self, wire: &str) -> CommandResult {
        let (place, rights) = self.place(wire)?;
        if !acl::can_list_rights(rights) {
            return Err(Outcome::no(format!(
                "[NOPERM] Access denied for MYRIGHTS on {wire}"
            )));
        }
        self.out.extend_from_slice(b"* MYRIGHTS ");
        self.write_quoted_name(&place.name);
        self.out.push(b' ');
        write_string(&mut self.out, rights.to_wire().as_bytes());
        self.out.extend_from_slice(b"\r\n");
        Ok(Outcome::ok("MYRIGHTS completed"))
    }

    /// A mailbox name as a quoted string (or literal), the way Courier writes it in ACL
    /// responses.
    fn write_quoted_name(&mut self, name: &str) {
        let wire = crate::imap::names::to_wire(name, self.utf8);
        write_string(&mut self.out, wire.as_bytes());
    }
}
