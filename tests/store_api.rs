//! The store's public API on real directories, including a Maildir written in Courier's
//! exact formats that must read correctly and stay byte-identical when nothing changes.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use postern::store::{AppendSource, Flags, Maildir, StoreError};

fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(base, &p, out);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    walk(root, root, &mut out);
    out
}

const M1: &str = "1700000000.M1P1.host,S=80";
const M2: &str = "1700000001.M2P2.host";

/// A Maildir as Courier-IMAP leaves it.
fn courier_fixture(root: &Path) {
    for d in [
        "cur",
        "new",
        "tmp",
        "courierimapkeywords",
        ".Sent/cur",
        ".Sent/new",
        ".Sent/tmp",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join(".Sent/maildirfolder"), b"").unwrap();
    fs::write(root.join("cur").join(format!("{M1}:2,S")), vec![b'x'; 80]).unwrap();
    fs::write(
        root.join("cur").join(format!("{M2}:2,FT")),
        b"Subject: two\n\nbody\n",
    )
    .unwrap();
    fs::write(
        root.join("courierimapuiddb"),
        format!("1 795868689 3\n1 {M1}\n2 {M2}\n"),
    )
    .unwrap();
    fs::write(
        root.join("courierimapkeywords/:list"),
        format!("Custom1\n$Label1\n\n{M1}:1 0\n"),
    )
    .unwrap();
    // A consolidated update for M2 from long ago and a fresh one for M1.
    fs::write(
        root.join(format!("courierimapkeywords/.5986230.{M2}")),
        b"Later\n",
    )
    .unwrap();
    fs::write(root.join("courierimapsubscribed"), b"INBOX.Sent\n").unwrap();
    fs::write(
        root.join("maildirsize"),
        b"1000000S,100C\n           0            0\n          99            2\n",
    )
    .unwrap();
}

#[test]
fn courier_maildir_reads_and_stays_byte_identical() {
    let d = tempfile::tempdir().unwrap();
    courier_fixture(d.path());
    let md = Maildir::open(d.path()).unwrap();
    // The consolidated update is older than 15 minutes: the first open folds it into
    // :list, as Courier would. After that nothing may change.
    md.open_mailbox("INBOX", false).unwrap();
    let list = fs::read_to_string(d.path().join("courierimapkeywords/:list")).unwrap();
    assert_eq!(
        list,
        format!("$Label1\nCustom1\nLater\n\n{M1}:0 1\n{M2}:2\n")
    );
    let before = snapshot(d.path());

    let mb = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(mb.uid_validity(), 795868689);
    assert_eq!(mb.uid_next(), 3);
    let m: Vec<_> = mb.messages().collect();
    assert_eq!(m.len(), 2);
    assert_eq!((m[0].uid, m[0].basename), (1, M1));
    assert_eq!(m[0].size, 80);
    assert_eq!(m[0].flags, Flags::SEEN);
    assert_eq!(m[0].keywords, ["$Label1", "Custom1"]);
    assert!(!m[0].recent);
    assert_eq!(m[1].uid, 2);
    assert_eq!(m[1].flags, Flags::FLAGGED | Flags::DELETED);
    assert_eq!(m[1].size, 19); // no ,S=: from stat
    assert_eq!(m[1].keywords, ["Later"]);
    assert_eq!(mb.read_message(1).unwrap(), b"Subject: two\n\nbody\n");

    let st = md.status("INBOX").unwrap();
    assert_eq!(
        (
            st.messages,
            st.recent,
            st.unseen,
            st.uid_next,
            st.uid_validity
        ),
        (2, 0, 1, 3, 795868689)
    );
    assert_eq!(md.subscriptions().unwrap(), ["INBOX.Sent"]);
    let q = md.quota().unwrap().unwrap();
    assert_eq!(
        (
            q.limit_bytes,
            q.limit_messages,
            q.used_bytes,
            q.used_messages
        ),
        (Some(1_000_000), Some(100), 99, 2)
    );
    let names: Vec<String> = md
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["INBOX", "INBOX.Sent"]);
    md.open_mailbox("INBOX", true).unwrap();
    let mut mb = md.open_mailbox("inbox", false).unwrap();
    assert_eq!(mb.refresh(true).unwrap(), Default::default());
    assert_eq!(
        snapshot(d.path()),
        before,
        "nothing changed, nothing may be rewritten"
    );

    // A new file in new/ gets the next UID, in Courier's format.
    fs::write(d.path().join("new/1700000002.M3P3.host,S=5"), b"hello").unwrap();
    let ch = mb.refresh(true).unwrap();
    assert_eq!(ch.new, 1);
    assert!(mb.message(2).recent);
    assert_eq!(
        fs::read_to_string(d.path().join("courierimapuiddb")).unwrap(),
        format!("1 795868689 4\n1 {M1}\n2 {M2}\n3 1700000002.M3P3.host,S=5\n")
    );
    assert!(d.path().join("cur/1700000002.M3P3.host,S=5:2,").exists());
}

#[test]
fn append_flags_expunge_copy() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path().join("Maildir")).unwrap();
    md.create_folder("INBOX.Archive.2024").unwrap();
    fs::write(md.root().join("maildirsize"), b"1000S\n").unwrap();
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    let a = md
        .append(
            "INBOX",
            AppendSource::Bytes(b"Subject: a\r\n\r\nA\r\n"),
            Flags::SEEN,
            &["Work".into()],
            Some(when),
        )
        .unwrap();
    assert_eq!(a.uid, 1);
    let mut spool = md.spool(Some("INBOX")).unwrap();
    std::io::Write::write_all(&mut spool, b"Subject: b\r\n\r\nB\r\n").unwrap();
    let spooled = spool.finish().unwrap();
    let tmp = spooled.path().to_owned();
    assert!(tmp.starts_with(md.root().join("tmp")));
    let b = md
        .append(
            "INBOX",
            AppendSource::Spooled(spooled),
            Flags::default(),
            &[],
            None,
        )
        .unwrap();
    assert_eq!((b.uid, b.uid_validity), (2, a.uid_validity));
    assert!(!tmp.exists());
    assert_eq!(fs::read_dir(md.root().join("tmp")).unwrap().count(), 0);
    assert_eq!(md.quota().unwrap().unwrap().used_messages, 2);

    let mut mb = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(mb.len(), 2);
    assert_eq!(mb.internal_date(0), 1_600_000_000);
    assert_eq!(mb.message(0).keywords, ["Work"]);
    assert!(
        mb.message(0).recent,
        "APPENDed mail is \\Recent in the first session that opens the folder"
    );
    mb.set_flags(1, Flags::DELETED | Flags::ANSWERED, &["$Junk".into()])
        .unwrap();
    assert!(mb.message(1).file_name().ends_with(":2,RT"));

    // Another session sees the change.
    let mut other = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(other.message(1).keywords, ["$Junk"]);
    let c = mb.copy_to(&[0, 1], &md, "INBOX.Archive.2024").unwrap();
    assert_eq!(c.uids, vec![(1, 1), (2, 2)]);
    let arch = md.open_mailbox("INBOX.Archive.2024", true).unwrap();
    assert_eq!(arch.message(0).keywords, ["Work"]);
    assert_eq!(arch.message(1).flags, Flags::DELETED | Flags::ANSWERED);
    // Appended with CRLF, kept with LF as Courier keeps it (and serves it as CRLF).
    assert_eq!(arch.read_message(0).unwrap(), b"Subject: a\n\nA\n");

    assert_eq!(mb.expunge(None).unwrap(), vec![2]);
    assert_eq!(mb.len(), 1);
    let ch = other.refresh(false).unwrap();
    assert!(ch.expunged.is_empty() && other.len() == 2 && other.message(1).is_gone());
    assert_eq!(other.refresh(true).unwrap().expunged, vec![2]);
    let db = fs::read_to_string(md.root().join("courierimapuiddb")).unwrap();
    assert_eq!(db.lines().count(), 2, "{db}");
    assert!(db.starts_with(&format!("1 {} 3\n1 ", a.uid_validity)));
    // UIDs are never reused.
    let c = md
        .append(
            "INBOX",
            AppendSource::Bytes(b"x"),
            Flags::default(),
            &[],
            None,
        )
        .unwrap();
    assert_eq!(c.uid, 3);

    assert!(matches!(
        md.append(
            "INBOX",
            AppendSource::Bytes(&[b'x'; 2000]),
            Flags::default(),
            &[],
            None
        ),
        Err(StoreError::OverQuota)
    ));
    let ro = md.open_mailbox("INBOX", true).unwrap();
    assert!(matches!(
        md.open_mailbox("INBOX.Nope", false),
        Err(StoreError::NoSuchFolder(_))
    ));
    drop(ro);
}

#[test]
fn folders() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path()).unwrap();
    md.create_folder("INBOX.a.b").unwrap();
    assert!(matches!(
        md.create_folder("INBOX.a"),
        Err(StoreError::FolderExists(_))
    ));
    assert!(matches!(
        md.create_folder("INBOX..x"),
        Err(StoreError::InvalidName(_))
    ));
    assert!(matches!(
        md.create_folder("INBOX.a/../../x"),
        Err(StoreError::InvalidName(_))
    ));
    for dir in [".a", ".a.b"] {
        let p = d.path().join(dir);
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(fs::metadata(p.join("maildirfolder")).unwrap().len(), 0);
    }
    let l = md.list_folders().unwrap();
    assert_eq!(
        l.iter()
            .map(|f| (f.name.as_str(), f.has_children))
            .collect::<Vec<_>>(),
        [("INBOX", true), ("INBOX.a", true), ("INBOX.a.b", false)]
    );
    md.append(
        "INBOX.a.b",
        AppendSource::Bytes(b"m"),
        Flags::default(),
        &[],
        None,
    )
    .unwrap();
    md.rename_folder("INBOX.a", "INBOX.z.y").unwrap();
    let names: Vec<String> = md
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["INBOX", "INBOX.z", "INBOX.z.y", "INBOX.z.y.b"]);
    assert_eq!(
        md.open_mailbox("INBOX.z.y.b", false)
            .unwrap()
            .messages()
            .len(),
        1
    );
    md.delete_folder("INBOX.z.y").unwrap();
    let names: Vec<String> = md
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["INBOX", "INBOX.z", "INBOX.z.y.b"]);
    assert!(matches!(
        md.delete_folder("INBOX"),
        Err(StoreError::InvalidName(_))
    ));
    // RENAME INBOX moves its messages.
    md.deliver("INBOX", &mut &b"Subject: d\r\n\r\n"[..])
        .unwrap();
    md.rename_folder("INBOX", "INBOX.Old").unwrap();
    assert_eq!(md.open_mailbox("INBOX", false).unwrap().len(), 0);
    assert_eq!(
        md.open_mailbox("INBOX.Old", false)
            .unwrap()
            .messages()
            .len(),
        1
    );
    md.subscribe("inbox.Old").unwrap();
    md.subscribe("INBOX.Old").unwrap();
    assert_eq!(md.subscriptions().unwrap(), ["INBOX.Old"]);
    md.unsubscribe("INBOX.Old").unwrap();
    assert!(md.subscriptions().unwrap().is_empty());
}

/// Sets a directory's (or the uid db's) times an hour back, as if nothing had touched it
/// recently.
fn age(dir: &Path) {
    let old = nix::sys::time::TimeVal::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 3600,
        0,
    );
    nix::sys::stat::utimes(dir, &old, &old).unwrap();
}

/// Ages everything a folder's stamp is made of: as if nothing had touched it for an hour.
fn age_folder(root: &Path) {
    for sub in ["new", "cur", "courierimapkeywords", "courierimapuiddb"] {
        age(&root.join(sub));
    }
}

#[test]
fn refresh_skips_the_scan_only_while_nothing_changed() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path().join("Maildir")).unwrap();
    md.deliver("INBOX", &mut &b"Subject: one\r\n\r\nbody\r\n"[..])
        .unwrap();
    let mut mailbox = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(mailbox.len(), 1);
    age_folder(&d.path().join("Maildir"));
    // Settles the stamp; nothing new.
    assert_eq!(mailbox.refresh(true).unwrap().new, 0);
    let listed = mailbox.cur_listings();
    // Nothing changed: cur/ is not listed...
    assert_eq!(mailbox.refresh(true).unwrap().new, 0);
    assert_eq!(mailbox.cur_listings(), listed);
    // ...nor for a delivery, which only new/ is listed for...
    md.deliver("INBOX", &mut &b"Subject: two\r\n\r\nbody\r\n"[..])
        .unwrap();
    assert_eq!(mailbox.refresh(true).unwrap().new, 1);
    assert_eq!(mailbox.cur_listings(), listed);
    // ...but a file put into cur/ behind its back, even with cur/'s mtime put back as a
    // restore would, is: the stamp holds cur/'s ctime too.
    mailbox.refresh(true).unwrap();
    age_folder(&d.path().join("Maildir"));
    mailbox.refresh(true).unwrap();
    let cur = d.path().join("Maildir/cur");
    let mtime = fs::metadata(&cur).unwrap().modified().unwrap();
    fs::write(
        cur.join("1700000000.M1P1.host:2,S"),
        b"Subject: three\r\n\r\n",
    )
    .unwrap();
    fs::File::open(&cur).unwrap().set_modified(mtime).unwrap();
    assert_eq!(fs::metadata(&cur).unwrap().modified().unwrap(), mtime);
    assert_eq!(mailbox.refresh(true).unwrap().new, 1);
    // And a real change to cur/ by another session is.
    let listed = mailbox.cur_listings();
    let mut other = md.open_mailbox("INBOX", false).unwrap();
    other.set_flags(0, Flags::FLAGGED, &[]).unwrap();
    assert_eq!(mailbox.refresh(true).unwrap().flags_changed.len(), 1);
    assert!(mailbox.cur_listings() > listed);
    assert_eq!(mailbox.len(), 3);
}

/// A session's view stays right through rounds of other sessions' expunges, deliveries
/// and flag changes (the name index kept across refreshes must follow every shift).
#[test]
fn refresh_follows_expunges_deliveries_and_flag_changes() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path().join("Maildir")).unwrap();
    for i in 0..6 {
        md.deliver("INBOX", &mut format!("Subject: {i}\n\nx\n").as_bytes())
            .unwrap();
    }
    let mut mine = md.open_mailbox("INBOX", false).unwrap();
    let uids = |mb: &postern::store::Mailbox| mb.messages().map(|m| m.uid).collect::<Vec<_>>();
    assert_eq!(uids(&mine), [1, 2, 3, 4, 5, 6]);
    for round in 0..3u32 {
        let mut other = md.open_mailbox("INBOX", false).unwrap();
        // Expunge the second message, deliver one, flag the last old one.
        other.set_flags(1, Flags::DELETED, &[]).unwrap();
        other.expunge(None).unwrap();
        md.deliver(
            "INBOX",
            &mut format!("Subject: new {round}\n\nx\n").as_bytes(),
        )
        .unwrap();
        let last_old = other.len() - 1;
        let flagged_uid = other.message(last_old).uid;
        other
            .set_flags(last_old, Flags::FLAGGED, &["Round".into()])
            .unwrap();
        let ch = mine.refresh(true).unwrap();
        assert_eq!(ch.expunged, vec![2], "round {round}");
        assert_eq!(ch.new, 1, "round {round}");
        let flagged = mine.index_of_uid(flagged_uid).unwrap();
        assert!(ch.flags_changed.contains(&flagged), "round {round}: {ch:?}");
        let m = mine.message(flagged);
        assert_eq!(m.flags, Flags::FLAGGED);
        assert_eq!(m.keywords, ["Round"]);
        let fresh = md.open_mailbox("INBOX", true).unwrap();
        assert_eq!(uids(&mine), uids(&fresh), "round {round}");
        for (a, b) in mine.messages().zip(fresh.messages()) {
            assert_eq!(
                (a.flags, &a.keywords),
                (b.flags, &b.keywords),
                "round {round}"
            );
        }
    }
}

/// When only new/ changed since a look at a settled cur/, a refresh (and an open through
/// the index) lists new/ alone: a file slipped into cur/ behind its times' back is not
/// seen until cur/ really changes (here by the refresh's own move of the delivery, which
/// Courier needs: it numbers whatever it finds in new/ afresh). A read-only view leaves
/// new/ as it is and still sees a file there go.
#[test]
fn deliveries_into_a_settled_folder_are_found_in_new_alone() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = Maildir::create(&root).unwrap();
    for i in 0..3 {
        md.deliver("INBOX", &mut format!("Subject: {i}\n\nx\n").as_bytes())
            .unwrap();
    }
    let age_all = || age_folder(&root);
    drop(md.open_mailbox("INBOX", false).unwrap());
    age_all();
    let mut mine = md.open_mailbox("INBOX", false).unwrap();
    let mut view = md.open_mailbox("INBOX", true).unwrap();
    let (mine_listed, view_listed) = (mine.cur_listings(), view.cur_listings());
    md.deliver("INBOX", &mut &b"Subject: new\n\nx\n"[..])
        .unwrap();
    let ch = view.refresh(true).unwrap();
    assert_eq!((ch.new, view.len()), (1, 4));
    assert_eq!(view.cur_listings(), view_listed, "cur/ was listed");
    let ch = mine.refresh(true).unwrap();
    assert_eq!((ch.new, mine.len()), (1, 4));
    assert_eq!(mine.cur_listings(), mine_listed, "cur/ was listed");
    assert_eq!(fs::read_dir(root.join("new")).unwrap().count(), 0);
    // The move changed cur/: the next look is a full one.
    let ch = mine.refresh(true).unwrap();
    assert_eq!((ch.new, mine.len()), (0, 4));
    assert_eq!(mine.cur_listings(), mine_listed + 1);
    // The read-only view still has the delivery in new/, where it is gone from now.
    let ch = view.refresh(true).unwrap();
    assert_eq!((ch.new, ch.expunged.len()), (0, 0), "{ch:?}");
    let uids = |mb: &postern::store::Mailbox| mb.messages().map(|m| m.uid).collect::<Vec<_>>();
    assert_eq!(uids(&view), uids(&mine));
    age_all();
    let mut view = md.open_mailbox("INBOX", true).unwrap();
    md.deliver("INBOX", &mut &b"Subject: newer\n\nx\n"[..])
        .unwrap();
    assert_eq!(view.refresh(true).unwrap().new, 1);
    let name = view.message(view.len() - 1).file_name().to_string();
    fs::remove_file(root.join("new").join(&name)).unwrap();
    let ch = view.refresh(true).unwrap();
    assert_eq!(ch.expunged, vec![view.len() as u32 + 1]);
}

/// With a watch on (IDLE's), refreshes learn of changes from inotify events instead of
/// listing the folder: deliveries, other sessions' flag and keyword changes, their
/// expunges (which still send it to a full look) and this session's own changes all end
/// in the same view a fresh open gives, reported as a refresh reports them.
#[test]
fn a_watched_folder_follows_changes_from_events() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path().join("Maildir")).unwrap();
    let deliver = |n: usize| {
        for i in 0..n {
            md.deliver("INBOX", &mut format!("Subject: {i}\n\nx\n").as_bytes())
                .unwrap();
        }
    };
    deliver(5);
    let mut mine = md.open_mailbox("INBOX", false).unwrap();
    mine.watch().unwrap();
    assert_eq!(mine.refresh(true).unwrap().new, 0);
    let same_as_fresh = |mine: &postern::store::Mailbox, round: usize| {
        let fresh = md.open_mailbox("INBOX", true).unwrap();
        let view = |mb: &postern::store::Mailbox| {
            mb.messages()
                .map(|m| (m.uid, m.flags, m.keywords.to_vec()))
                .collect::<Vec<_>>()
        };
        assert_eq!(view(mine), view(&fresh), "round {round}");
    };
    for round in 0..4 {
        deliver(3);
        let ch = mine.refresh(true).unwrap();
        assert_eq!((ch.new, ch.expunged.len()), (3, 0), "round {round}");
        assert!(mine.recent_count() >= 3, "round {round}");
        same_as_fresh(&mine, round);

        let mut other = md.open_mailbox("INBOX", false).unwrap();
        let uid = other.message(round).uid;
        other
            .set_flags(round, Flags::SEEN | Flags::FLAGGED, &["Round".into()])
            .unwrap();
        let ch = mine.refresh(true).unwrap();
        let at = mine.index_of_uid(uid).unwrap();
        assert_eq!(ch.flags_changed, vec![at], "round {round}");
        assert_eq!(mine.message(at).keywords, ["Round"], "round {round}");
        same_as_fresh(&mine, round);

        // This session's own change is no news to it.
        mine.set_flags(0, Flags::ANSWERED, &[]).unwrap();
        let ch = mine.refresh(true).unwrap();
        assert_eq!(ch, Default::default(), "round {round}");
        same_as_fresh(&mine, round);

        let last = other.len() - 1;
        other.set_flags(last, Flags::DELETED, &[]).unwrap();
        other.expunge(None).unwrap();
        drop(other);
        let ch = mine.refresh(true).unwrap();
        assert_eq!(ch.expunged, vec![mine.len() as u32 + 1], "round {round}");
        same_as_fresh(&mine, round);
    }
    // Nothing changed: nothing to report, and no events left over.
    assert_eq!(mine.refresh(true).unwrap(), Default::default());
}

/// A folder of 5100 messages (flags `info`) whose index is exact and settled: a large
/// folder, as the index's watched paths need (5000 messages and more).
fn large_indexed_folder(root: &Path, info: &str) -> Maildir {
    let md = Maildir::create(root).unwrap();
    for i in 0..5100 {
        fs::write(
            root.join(format!("cur/1700000000.M{i}P1.host:2,{info}")),
            format!("Subject: {i}\n\nx\n"),
        )
        .unwrap();
    }
    drop(md.open_mailbox("INBOX", false).unwrap());
    age_folder(root);
    drop(md.open_mailbox("INBOX", false).unwrap());
    md
}

/// A session APPENDing into the large folder it has open says so first
/// (`expect_own_additions`, as IMAP APPEND does), and a COPY into it does so itself: the
/// refresh that reports the new messages learns of them from the watch, without listing
/// cur/ again, and gives them the UIDs APPEND and COPY answered with.
#[test]
fn own_appends_and_copies_to_a_large_folder_need_no_listing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = large_indexed_folder(&root, "S");
    let mut mine = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!((mine.len(), mine.cur_listings()), (5100, 0));
    for round in 0..3 {
        mine.expect_own_additions();
        let body = format!("Subject: appended {round}\n\nx\n");
        let a = md
            .append(
                "INBOX",
                AppendSource::Bytes(body.as_bytes()),
                Flags::default(),
                &[],
                None,
            )
            .unwrap();
        let changes = mine.refresh(true).unwrap();
        assert_eq!(changes.new, 1, "round {round}");
        assert_eq!(mine.message(mine.len() - 1).uid, a.uid);
    }
    // A COPY into the folder itself says so on its own.
    let copied = mine.copy_to(&[0], &md, "INBOX").unwrap();
    let changes = mine.refresh(true).unwrap();
    assert_eq!(changes.new, 1);
    assert_eq!(mine.message(mine.len() - 1).uid, copied.uids[0].1);
    assert_eq!(mine.cur_listings(), 0, "cur/ was listed");
}

/// A refresh whose new UIDs skip over a message that another session appended and
/// expunged before this one looked (a client moving new mail out at once) does not list
/// cur/ for it: the UID database has no line for it any more.
#[test]
fn a_skipped_uid_already_expunged_costs_no_listing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = large_indexed_folder(&root, "S");
    let mut mine = md.open_mailbox("INBOX", false).unwrap();
    mine.expect_own_additions();
    let gone = md
        .append(
            "INBOX",
            AppendSource::Bytes(b"Subject: moved out\n\nx\n"),
            Flags::default(),
            &[],
            None,
        )
        .unwrap();
    let mut other = md.open_mailbox("INBOX", false).unwrap();
    let at = other.index_of_uid(gone.uid).unwrap();
    other.set_flags(at, Flags::DELETED, &[]).unwrap();
    other.expunge(None).unwrap();
    drop(other);
    md.deliver("INBOX", &mut &b"Subject: kept\n\nx\n"[..])
        .unwrap();
    let listed = mine.cur_listings();
    let changes = mine.refresh(true).unwrap();
    assert_eq!(changes.new, 1);
    assert_eq!(mine.message(mine.len() - 1).uid, gone.uid + 1);
    assert_eq!(mine.cur_listings(), listed, "cur/ was listed");
}

/// A large folder (5000 messages and more) is watched from a session's first change of
/// its own: its flag renames and expunges move cur/'s times, yet the refreshes after
/// them learn what happened from the events instead of listing cur/ again, other
/// sessions' changes included. When the session ends it leaves an index exact for the
/// folder after its changes, so the next open lists nothing either, even one that
/// begins before the index is written.
#[test]
fn own_changes_to_a_large_folder_need_no_listing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = large_indexed_folder(&root, "");
    let mut mine = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!((mine.len(), mine.cur_listings()), (5100, 0));
    let view = |mb: &postern::store::Mailbox| {
        mb.messages()
            .map(|m| (m.uid, m.flags, m.keywords.to_vec()))
            .collect::<Vec<_>>()
    };
    for i in 0..3 {
        mine.set_flags(i, Flags::FLAGGED, &["Mine".into()]).unwrap();
        assert_eq!(mine.refresh(true).unwrap(), Default::default());
    }
    mine.set_flags(3, Flags::DELETED, &[]).unwrap();
    assert_eq!(mine.expunge(None).unwrap(), vec![4]);
    assert_eq!(mine.refresh(true).unwrap(), Default::default());
    // Another session's flag change and a delivery come in as events too.
    let mut other = md.open_mailbox("INBOX", false).unwrap();
    other.set_flags(10, Flags::SEEN, &[]).unwrap();
    drop(other);
    md.deliver("INBOX", &mut &b"Subject: new\n\nx\n"[..])
        .unwrap();
    let ch = mine.refresh(true).unwrap();
    assert_eq!((ch.new, ch.flags_changed.len()), (1, 1), "{ch:?}");
    assert_eq!(mine.cur_listings(), 0, "cur/ was listed");
    let fresh = md.open_mailbox("INBOX", true).unwrap();
    assert_eq!(view(&mine), view(&fresh));
    drop(fresh);
    let expected = view(&mine);
    // LOGOUT retires the folder before its last response; a session that opens it
    // before the drop has saved the index waits for that index rather than listing.
    mine.retire();
    std::thread::scope(|scope| {
        let next = scope.spawn(|| md.open_mailbox("INBOX", false).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(mine);
        let next = next.join().unwrap();
        assert_eq!(next.cur_listings(), 0, "the index was not left exact");
        assert_eq!(view(&next), expected);
    });
}

/// An open of a large folder after a delivery lists new/ alone and moves the delivery
/// into cur/; that move leaves the index no longer exact for cur/, yet the next open
/// lists nothing either: the first one watched its own move and left an exact index.
#[test]
fn an_open_after_a_delivery_leaves_the_next_one_nothing_to_list() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = large_indexed_folder(&root, "S");
    for round in 0..2 {
        md.deliver(
            "INBOX",
            &mut format!("Subject: new {round}\n\nx\n").as_bytes(),
        )
        .unwrap();
        let mine = md.open_mailbox("INBOX", false).unwrap();
        assert_eq!(mine.cur_listings(), 0, "round {round}: cur/ was listed");
        assert_eq!(mine.len(), 5101 + round, "round {round}");
        assert_eq!(mine.first_unseen(), Some(5100), "round {round}");
        drop(mine);
    }
    let next = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(next.cur_listings(), 0, "the index was not left exact");
    assert_eq!(next.len(), 5102);
    assert_eq!(fs::read_dir(root.join("new")).unwrap().count(), 0);
}

/// A delivery that comes in while a session of a large folder ends (watched for IDLE, or
/// for its own changes) stays in new/: moving it then would change cur/ after the
/// session's last look, and the next opener would list all of cur/ again. The index the
/// session leaves sends the next opener to new/ alone.
#[test]
fn a_delivery_as_a_session_ends_is_left_to_the_next_opener() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = large_indexed_folder(&root, "S");
    for (round, own_change) in [(0, false), (1, true)] {
        let mut mine = md.open_mailbox("INBOX", false).unwrap();
        if own_change {
            mine.set_flags(0, Flags::FLAGGED, &[]).unwrap();
        } else {
            mine.watch().unwrap();
        }
        md.deliver(
            "INBOX",
            &mut format!("Subject: late {round}\n\nx\n").as_bytes(),
        )
        .unwrap();
        drop(mine);
        let waiting = fs::read_dir(root.join("new")).unwrap().count();
        assert_eq!(
            waiting, 1,
            "round {round}: the ending session took the delivery"
        );
        let next = md.open_mailbox("INBOX", false).unwrap();
        assert_eq!(next.cur_listings(), 0, "round {round}: cur/ was listed");
        assert_eq!(next.len(), 5101 + round, "round {round}");
        assert_eq!(next.message(0).flags.contains(Flags::FLAGGED), own_change);
        drop(next);
    }
    let last = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!((last.cur_listings(), last.len()), (0, 5102));
}

/// A file in new/ whose name a message in cur/ has already (a copy made by hand, a
/// restore) is that message, not a new one: the open that moves it finds its row after
/// numbering it (the move is looked up late, see `reconcile`), and no UID is shown twice.
#[test]
fn a_delivery_named_like_a_message_in_cur_is_that_message() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = large_indexed_folder(&root, "S");
    let existing = "1700000000.M7P1.host";
    fs::write(root.join("new").join(existing), "Subject: 7\n\nx\n").unwrap();
    md.deliver("INBOX", &mut &b"Subject: really new\n\nx\n"[..])
        .unwrap();
    let mb = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(mb.len(), 5101);
    let mut uids: Vec<u32> = mb.messages().map(|m| m.uid).collect();
    uids.dedup();
    assert_eq!(uids.len(), 5101, "a UID twice");
    drop(mb);
    let again = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(again.len(), 5101);
}

/// STATUS of a large folder with deliveries waiting in new/ (what a client polling its
/// INBOX sees between two sessions) adds new/'s files to the index's figures instead of
/// listing cur/, numbering them as the full path does; the figures are the full path's.
#[test]
fn status_with_deliveries_lists_only_new() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = large_indexed_folder(&root, "S");
    md.deliver("INBOX", &mut &b"Subject: one\n\nx\n"[..])
        .unwrap();
    // Another agent's delivery, not numbered yet, one with a flag already.
    fs::write(
        root.join("new/1800000000.M1P9.other"),
        "Subject: two\n\nx\n",
    )
    .unwrap();
    fs::write(
        root.join("new/1800000001.M1P9.other:2,S"),
        "Subject: 3\n\nx\n",
    )
    .unwrap();
    let listed = postern::store::cur_listings_by_this_thread();
    let quick = md.status("INBOX").unwrap();
    assert_eq!(
        postern::store::cur_listings_by_this_thread(),
        listed,
        "cur/ was listed"
    );
    assert_eq!((quick.messages, quick.unseen, quick.recent), (5103, 2, 3));
    // The full path (no index) gives the same figures.
    fs::remove_file(root.join("postern-index")).unwrap();
    let full = md.status("INBOX").unwrap();
    assert!(postern::store::cur_listings_by_this_thread() > listed);
    assert_eq!(quick, full);
    // The opener sees the same messages under the UIDs STATUS announced.
    let mb = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(mb.len(), 5103);
    assert_eq!(mb.uid_next(), quick.uid_next);
    assert_eq!(mb.message(5102).uid, quick.uid_next - 1);
}

/// SELECT's shortcut: a settled folder writes postern-index at a full scan, and a later
/// open reads it instead of listing the folder — until anything changes.
#[test]
fn open_uses_the_index_only_while_nothing_changed() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = Maildir::create(&root).unwrap();
    for i in 0..3 {
        md.deliver("INBOX", &mut format!("Subject: {i}\n\nx\n").as_bytes())
            .unwrap();
    }
    let age_all = || age_folder(&root);
    // The first open moves new/ to cur/ (a change of its own); the next settled one
    // writes the index.
    let first = md.open_mailbox("INBOX", false).unwrap();
    let uids: Vec<u32> = first.messages().map(|m| m.uid).collect();
    age_all();
    let _ = md.open_mailbox("INBOX", false).unwrap();
    assert!(root.join("postern-index").exists());
    // Nothing changed: the index answers and no directory is listed.
    let from_index = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(from_index.cur_listings(), 0);
    assert_eq!(
        from_index.messages().map(|m| m.uid).collect::<Vec<_>>(),
        uids
    );
    assert_eq!(from_index.message(1).flags, first.message(1).flags);
    // Any real change (here a flag set by another session) sends the next open to the
    // folder itself, which then sees everything.
    let mut other = md.open_mailbox("INBOX", false).unwrap();
    other.set_flags(0, Flags::FLAGGED, &[]).unwrap();
    let full = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(full.cur_listings(), 1);
    assert_eq!(full.len(), 3);
    assert_eq!(full.message(0).flags, Flags::FLAGGED);
    assert_eq!(
        &full.messages().map(|m| m.uid).collect::<Vec<_>>()[..3],
        &uids[..]
    );
}

/// Opening a folder clears what killed writers left in tmp/ only after Courier's 36 hours
/// of ctime (the removal itself is unit-tested with an injected clock in store::purge): a
/// file being written now survives even with an old mtime, as do directories, and a
/// read-only open touches nothing.
#[test]
fn open_leaves_young_tmp_files_whatever_their_mtime() {
    let d = tempfile::tempdir().unwrap();
    let md = Maildir::create(d.path().join("Maildir")).unwrap();
    let tmp = d.path().join("Maildir/tmp");
    std::fs::write(tmp.join("1.in-progress"), b"half a message").unwrap();
    let three_days_ago = nix::sys::time::TimeVal::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 3 * 86400,
        0,
    );
    nix::sys::stat::utimes(&tmp.join("1.in-progress"), &three_days_ago, &three_days_ago).unwrap();
    std::fs::create_dir(tmp.join("dir")).unwrap();
    drop(md.open_mailbox("INBOX", false).unwrap());
    drop(md.open_mailbox("INBOX", true).unwrap());
    let mut left: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["1.in-progress", "dir"]);
}

/// SMAP's STORE INTERNALDATE= (Mailbox::set_internal_date): the file's times change, and
/// a later open that answers from the folder index or postern-dates gives the new date,
/// not the one those caches held.
#[test]
fn a_changed_internal_date_is_not_answered_from_the_caches() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = Maildir::create(&root).unwrap();
    for i in 0..2 {
        md.deliver("INBOX", &mut format!("Subject: {i}\n\nx\n").as_bytes())
            .unwrap();
    }
    drop(md.open_mailbox("INBOX", false).unwrap());
    age_folder(&root);
    // A settled open writes the index; dates asked for are kept in it and postern-dates.
    let mut first = md.open_mailbox("INBOX", false).unwrap();
    let old = [first.internal_date(0), first.internal_date(1)];
    first.save_caches();
    drop(first);
    let cached = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(cached.cur_listings(), 0, "answered from the index");
    assert_eq!([cached.internal_date(0), cached.internal_date(1)], old);
    drop(cached);
    let mut changing = md.open_mailbox("INBOX", false).unwrap();
    changing.set_internal_date(1, 981_173_106).unwrap();
    assert_eq!(changing.internal_date(1), 981_173_106);
    changing.save_caches();
    drop(changing);
    let name = std::fs::read_dir(root.join("cur"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .max()
        .unwrap();
    let meta = std::fs::metadata(&name).unwrap();
    assert_eq!((meta.mtime(), meta.atime()), (981_173_106, 981_173_106));
    for _ in 0..2 {
        let later = md.open_mailbox("INBOX", false).unwrap();
        assert_eq!(
            [later.internal_date(0), later.internal_date(1)],
            [old[0], 981_173_106]
        );
    }
    assert!(matches!(
        md.open_mailbox("INBOX", true)
            .unwrap()
            .set_internal_date(0, 0),
        Err(StoreError::ReadOnly)
    ));
}

/// A session that changed a few messages of a large folder leaves the index exact by
/// writing those rows as a diff of it (`postern-index.diff`), not the whole index again:
/// the next session takes index and diff as exact (no listing) and sees what a full scan
/// sees, STATUS answers from them, a damaged diff only costs a listing, and many changes
/// are written as a whole index, which retires the diff.
#[test]
fn few_changes_to_a_large_folder_are_saved_as_a_diff_of_its_index() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("Maildir");
    let md = large_indexed_folder(&root, "");
    let (index, diff) = (root.join("postern-index"), root.join("postern-index.diff"));
    let index_inode = || fs::metadata(&index).unwrap().ino();
    let whole = index_inode();
    let view = |mb: &postern::store::Mailbox| {
        mb.messages()
            .map(|m| (m.uid, m.flags, m.basename.to_string()))
            .collect::<Vec<_>>()
    };
    let mut mine = md.open_mailbox("INBOX", false).unwrap();
    for i in 0..3 {
        mine.set_flags(i, Flags::SEEN | Flags::FLAGGED, &[])
            .unwrap();
    }
    mine.set_flags(3, Flags::DELETED, &[]).unwrap();
    assert_eq!(mine.expunge(None).unwrap(), vec![4]);
    md.deliver("INBOX", &mut &b"Subject: new\n\nx\n"[..])
        .unwrap();
    assert_eq!(mine.refresh(true).unwrap().new, 1);
    let expected = view(&mine);
    assert_eq!(expected.len(), 5100);
    drop(mine);
    assert_eq!(index_inode(), whole, "the index was written whole");
    assert!(diff.exists(), "no diff");
    assert_eq!(postern::store::mailbox::index_is_current(&root), Some(true));

    let next = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(
        next.cur_listings(),
        0,
        "index and diff were not taken as exact"
    );
    assert_eq!(view(&next), expected);
    drop(next);
    let from_index = md.status("INBOX").unwrap();
    assert_eq!((from_index.messages, from_index.unseen), (5100, 5097));

    // A full scan without them finds the same.
    let (index_bytes, diff_bytes) = (fs::read(&index).unwrap(), fs::read(&diff).unwrap());
    fs::remove_file(&index).unwrap();
    fs::remove_file(&diff).unwrap();
    let scanned = md.open_mailbox("INBOX", true).unwrap();
    assert_eq!(view(&scanned), expected);
    drop(scanned);
    assert_eq!(md.status("INBOX").unwrap(), from_index);

    // A damaged diff is passed over: the index alone is stale, so the folder is listed.
    fs::write(&index, &index_bytes).unwrap();
    let mut damaged = diff_bytes.clone();
    *damaged.last_mut().unwrap() ^= 1;
    fs::write(&diff, &damaged).unwrap();
    let listed = md.open_mailbox("INBOX", true).unwrap();
    assert!(listed.cur_listings() > 0);
    assert_eq!(view(&listed), expected);
    drop(listed);

    // Changes to an eighth of the folder and more: the index is written whole and the
    // diff, which named the old one, goes.
    fs::write(&diff, &diff_bytes).unwrap();
    age_folder(&root);
    let mut many = md.open_mailbox("INBOX", false).unwrap();
    for i in 100..800 {
        many.set_flags(i, Flags::ANSWERED, &[]).unwrap();
    }
    let expected = view(&many);
    drop(many);
    // (By content: the inode numbers of the files removed above may be reused.)
    assert_ne!(
        fs::read(&index).unwrap(),
        index_bytes,
        "the index was not written whole"
    );
    assert!(!diff.exists(), "a diff of the old index is left");
    let next = md.open_mailbox("INBOX", false).unwrap();
    assert_eq!(next.cur_listings(), 0);
    assert_eq!(view(&next), expected);
}
