//! GETACL SETACL DELETEACL LISTRIGHTS MYRIGHTS (RFC 4314 §3), answered as Courier
//! answers them: mailbox names, identifiers and rights as quoted strings, a login name
//! on the wire is `user=<name>` in the ACL file, rights in Courier's wire letters
//! ([`Rights::to_wire`]). GETACL, SETACL, DELETEACL and LISTRIGHTS need the `a` right
//! (RFC 4314 §4); MYRIGHTS needs any right at all. Courier's own `ACL STORE|DELETE|SET`
//! (the ACL2 draft, for its Cone client) takes identifiers as the file keeps them
//! (`user=joe`, `group=staff`) and answers with the folders' new lists as LIST lines.

use crate::imap::command::AclVerb;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;
use crate::imap::syntax::write_string;
use crate::store::acl::{self, Acl, AclError};
use crate::store::places::Place;

/// `ACL SET`'s identifier/rights pairs as a whole list (rights as the file keeps them).
fn whole_list(args: &[String]) -> Result<Acl, AclError> {
    let mut list = Acl::default();
    for pair in args.chunks(2) {
        list.put(&pair[0], acl::Rights::parse_stored(&pair[1])?)?;
    }
    Ok(list)
}

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

    /// Courier's `ACL` command: for each mailbox (with the `a` right) the change, then
    /// `* LIST (...) "." "<mailbox>" (("ACL" (...)))` with the list as it now is. What is
    /// refused is said per mailbox, as Courier does: `* RIGHTS-INFO "<mailbox>"
    /// "<identifier>" <what it must keep>` when the owner or administrators would lose
    /// rights they keep, `* ACLFAILED "<mailbox>" "<why>"` otherwise; the command itself
    /// completes.
    pub fn cmd_courier_acl(
        &mut self,
        verb: AclVerb,
        mailboxes: &[String],
        args: &[String],
    ) -> CommandResult {
        for wire in mailboxes {
            let (place, _) = match self.place_with(wire, 'a', "ACL") {
                Ok(found) => found,
                Err(outcome) => {
                    self.acl_failed(wire, outcome.text());
                    continue;
                }
            };
            let owner = owner_identifier(place.owner, self.user());
            let (root, folder) = (place.maildir.root(), place.folder.as_str());
            let changed = match verb {
                AclVerb::Store => acl::Change::parse(&args[1], false).and_then(|change| {
                    acl::modify(root, folder, &args[0], change, true, owner.as_deref())
                }),
                AclVerb::Delete => acl::delete_as(root, folder, &args[0], owner.as_deref()),
                AclVerb::Set => whole_list(args)
                    .and_then(|list| acl::store(root, folder, &list, owner.as_deref())),
            };
            match changed {
                Ok(()) => self.list_with_acl(&place),
                Err(AclError::MinimumRights(who)) => {
                    self.out.extend_from_slice(b"* RIGHTS-INFO ");
                    self.write_quoted_name(&place.name);
                    self.out.push(b' ');
                    write_string(&mut self.out, who.as_bytes());
                    self.out.extend_from_slice(b" al c e i p r s t w x\r\n");
                }
                Err(err) => {
                    let why = acl_refusal(err);
                    self.acl_failed(wire, why.text());
                }
            }
        }
        Ok(Outcome::ok(format!("ACL {} completed", verb.name())))
    }

    fn acl_failed(&mut self, wire: &str, why: &str) {
        self.out.extend_from_slice(b"* ACLFAILED ");
        write_string(&mut self.out, wire.as_bytes());
        self.out.push(b' ');
        write_string(&mut self.out, why.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// `* LIST (\HasChildren) "." "<mailbox>" (("ACL" (...)))` after a change, as
    /// Courier answers.
    fn list_with_acl(&mut self, place: &Place) {
        let Ok(list) = acl::load(place.maildir.root(), &place.folder) else {
            return;
        };
        let below = format!("{}.", place.folder);
        let children = place
            .maildir
            .list_folders()
            .is_ok_and(|all| all.iter().any(|f| f.name.starts_with(&below)));
        let attr = if children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        };
        self.out
            .extend_from_slice(format!("* LIST ({attr}) \".\" ").as_bytes());
        self.write_quoted_name(&place.name);
        self.out
            .extend_from_slice(format!(" ({})\r\n", acl::list_acl_wire(&list)).as_bytes());
    }

    /// A mailbox name as a quoted string (or literal), the way Courier writes it in ACL
    /// responses.
    fn write_quoted_name(&mut self, name: &str) {
        let wire = crate::imap::names::to_wire(name, self.utf8);
        write_string(&mut self.out, wire.as_bytes());
    }
}
