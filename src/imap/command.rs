//! The IMAP commands a client can send, as data (RFC 3501 §6 plus the extensions postern
//! serves). The parser builds these; the session acts on them. Nothing here knows about
//! sockets or mailboxes.
//!
//! Conventions:
//! - Mailbox names are the wire string (astring/quoted/literal) as sent, UTF-8 checked, not
//!   yet decoded from modified UTF-7; `INBOX` case folding is the session's job.
//! - Search strings are raw bytes, because their charset is the command's `CHARSET`.
//! - Atoms the protocol treats case-insensitively (status items, fetch items, flags) are
//!   turned into enum variants; free-form names (keywords, capabilities) keep their case.

use crate::store::Spooled;

pub use super::sequence::{SeqNum, SeqRange, SequenceSet};

/// ID field/value pairs (RFC 2971), in the client's order.
pub type IdParams = Vec<(String, Option<String>)>;

/// One tagged command.
#[derive(Debug, PartialEq)]
pub struct Command {
    pub tag: String,
    pub body: CommandBody,
}

/// Every command postern parses. The session answers those it does not serve (SETQUOTA,
/// SETACL, ...) with NO; commands the parser does not know never get this far.
#[derive(Debug, PartialEq)]
pub enum CommandBody {
    // Any state (RFC 3501 §6.1).
    Capability,
    Noop,
    Logout,
    /// ID (RFC 2971): `None` for `ID NIL`, else the field/value pairs in order.
    Id(Option<IdParams>),

    // Not authenticated (§6.2).
    StartTls,
    /// The username must be UTF-8; the password is any bytes the client sent.
    Login {
        username: String,
        password: Vec<u8>,
    },
    /// `AUTHENTICATE mech [initial-response]` (RFC 4959 SASL-IR). The initial response is
    /// the base64 text as sent, not decoded; `=` (an empty response) becomes `Some("")`.
    /// Further SASL lines are read by the session with `Wire::read_line`.
    Authenticate {
        mechanism: String,
        initial_response: Option<String>,
    },

    // Authenticated (§6.3).
    Select {
        mailbox: String,
        params: Vec<SelectParam>,
    },
    Examine {
        mailbox: String,
        params: Vec<SelectParam>,
    },
    /// CREATE, with RFC 6154's `(USE (\\Sent ...))` uses (attributes without the
    /// backslash, as sent).
    Create {
        mailbox: String,
        uses: Vec<String>,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
    },
    Unsubscribe {
        mailbox: String,
    },
    /// LIST, also in its RFC 5258 LIST-EXTENDED form:
    /// `LIST (SUBSCRIBED) "" ("*" "%") RETURN (CHILDREN SPECIAL-USE)`. A plain LIST has
    /// empty `selection` and `returns` and one pattern.
    List {
        selection: Vec<ListSelect>,
        reference: String,
        patterns: Vec<String>,
        returns: Vec<ListReturn>,
    },
    Lsub {
        reference: String,
        pattern: String,
    },
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    /// APPEND: its first message here, `utf8` true for the RFC 6855 `UTF8 (~{n}...)`
    /// form; a MULTIAPPEND's further messages (RFC 3502) in `more`.
    Append {
        mailbox: String,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: LiteralData,
        utf8: bool,
        /// The message came as a `literal8` (`~{n}`, RFC 3516 §4.4).
        binary: bool,
        more: Vec<AppendMessage>,
    },
    /// IDLE (RFC 2177). The session sends `+ idling` and reads the `DONE` line itself.
    Idle,
    Namespace,
    /// COMPRESS (RFC 4978): the mechanism name as sent.
    Compress(String),
    /// ENABLE (RFC 5161): capability names as sent.
    Enable(Vec<String>),
    GetQuota {
        root: String,
    },
    GetQuotaRoot {
        mailbox: String,
    },
    /// SETQUOTA root (resource limit ...). Parsed so it can be refused properly.
    SetQuota {
        root: String,
        limits: Vec<(String, u64)>,
    },
    GetAcl {
        mailbox: String,
    },
    SetAcl {
        mailbox: String,
        identifier: String,
        rights: String,
    },
    DeleteAcl {
        mailbox: String,
        identifier: String,
    },
    ListRights {
        mailbox: String,
        identifier: String,
    },
    MyRights {
        mailbox: String,
    },
    /// Courier's ACL2-draft command: `ACL STORE|DELETE|SET <mailbox or (list)> ...`
    /// with identifiers and rights as the ACL file keeps them.
    Acl {
        verb: AclVerb,
        mailboxes: Vec<String>,
        /// STORE: identifier, rights; DELETE: identifier; SET: identifier, rights, ...
        args: Vec<String>,
    },

    // Selected (§6.4).
    Check,
    Close,
    /// UNSELECT (RFC 3691).
    Unselect,
    /// EXPUNGE; `uids` is set for `UID EXPUNGE set` (RFC 4315).
    Expunge {
        uids: Option<SequenceSet>,
    },
    /// SEARCH / UID SEARCH. Several top-level keys are `SearchKey::And`; `returns` is
    /// `None` without `RETURN`, `Some(vec![])` for `RETURN ()` (which means ALL, RFC 4731).
    Search {
        uid: bool,
        charset: Option<String>,
        criteria: SearchKey,
        returns: Option<Vec<SearchReturn>>,
    },
    /// A SEARCH with `RETURN (... SAVE ...)` whose rest did not parse: answered BAD, and
    /// the saved result becomes empty (RFC 5182 §2.1), so a pipelined `$` after it acts on
    /// no message rather than on an older result.
    SearchSaveFailed {
        uid: bool,
        reason: String,
    },
    /// FETCH / UID FETCH. The macros ALL, FAST and FULL are expanded by the parser. For UID
    /// FETCH the session adds UID to the response whether or not it was asked for.
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchItem>,
    },
    /// UID FETCH with the PARTIAL modifier (RFC 9394 §3.2): the set's messages, in UID
    /// order, at the range's positions. The session turns it into a UID FETCH of those.
    FetchPartial {
        set: SequenceSet,
        items: Vec<FetchItem>,
        range: PartialRange,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Vec<Flag>,
    },
    /// FETCH / UID FETCH with the CHANGEDSINCE modifier (RFC 7162 §3.1.4.1): only the
    /// messages whose MODSEQ is above `changed_since`; with `vanished` (UID FETCH only,
    /// QRESYNC §3.2.6) also `* VANISHED (EARLIER)` for the set's UIDs expunged since.
    FetchChangedSince {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchItem>,
        changed_since: u64,
        vanished: bool,
    },
    /// STORE / UID STORE with the UNCHANGEDSINCE modifier (RFC 7162 §3.1.3): messages
    /// whose MODSEQ is above `unchanged_since` are left alone and named in `[MODIFIED]`.
    StoreUnchangedSince {
        uid: bool,
        set: SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Vec<Flag>,
        unchanged_since: u64,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    /// MOVE (RFC 6851).
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    /// SORT / UID SORT (RFC 5256 §3): the charset is mandatory there. `returns` is the
    /// ESORT `RETURN (...)` list (RFC 5267 §3.2), `None` without RETURN.
    Sort {
        uid: bool,
        criteria: Vec<SortCriterion>,
        charset: String,
        search: SearchKey,
        returns: Option<Vec<SearchReturn>>,
    },
    /// THREAD / UID THREAD (RFC 5256 §3).
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: String,
        search: SearchKey,
    },
}

impl CommandBody {
    /// The command's name as it appears on the wire, for logs and responses
    /// (`UID FETCH` for UID variants).
    pub fn name(&self) -> &'static str {
        use CommandBody::*;
        match self {
            Capability => "CAPABILITY",
            Noop => "NOOP",
            Logout => "LOGOUT",
            Id(_) => "ID",
            StartTls => "STARTTLS",
            Login { .. } => "LOGIN",
            Authenticate { .. } => "AUTHENTICATE",
            Select { .. } => "SELECT",
            Examine { .. } => "EXAMINE",
            Create { .. } => "CREATE",
            Delete { .. } => "DELETE",
            Rename { .. } => "RENAME",
            Subscribe { .. } => "SUBSCRIBE",
            Unsubscribe { .. } => "UNSUBSCRIBE",
            List { .. } => "LIST",
            Lsub { .. } => "LSUB",
            Status { .. } => "STATUS",
            Append { .. } => "APPEND",
            Idle => "IDLE",
            Namespace => "NAMESPACE",
            Compress(_) => "COMPRESS",
            Enable(_) => "ENABLE",
            GetQuota { .. } => "GETQUOTA",
            GetQuotaRoot { .. } => "GETQUOTAROOT",
            SetQuota { .. } => "SETQUOTA",
            GetAcl { .. } => "GETACL",
            SetAcl { .. } => "SETACL",
            DeleteAcl { .. } => "DELETEACL",
            ListRights { .. } => "LISTRIGHTS",
            MyRights { .. } => "MYRIGHTS",
            Acl { .. } => "ACL",
            Check => "CHECK",
            Close => "CLOSE",
            Unselect => "UNSELECT",
            Expunge { uids: None } => "EXPUNGE",
            Expunge { uids: Some(_) } => "UID EXPUNGE",
            Search { uid: false, .. } => "SEARCH",
            Search { uid: true, .. } => "UID SEARCH",
            SearchSaveFailed { uid: false, .. } => "SEARCH",
            SearchSaveFailed { uid: true, .. } => "UID SEARCH",
            Fetch { uid: false, .. } => "FETCH",
            Fetch { uid: true, .. } => "UID FETCH",
            FetchPartial { .. } => "UID FETCH",
            Store { uid: false, .. } => "STORE",
            Store { uid: true, .. } => "UID STORE",
            FetchChangedSince { uid: false, .. } => "FETCH",
            FetchChangedSince { uid: true, .. } => "UID FETCH",
            StoreUnchangedSince { uid: false, .. } => "STORE",
            StoreUnchangedSince { uid: true, .. } => "UID STORE",
            Copy { uid: false, .. } => "COPY",
            Copy { uid: true, .. } => "UID COPY",
            Move { uid: false, .. } => "MOVE",
            Move { uid: true, .. } => "UID MOVE",
            Sort { uid: false, .. } => "SORT",
            Sort { uid: true, .. } => "UID SORT",
            Thread { uid: false, .. } => "THREAD",
            Thread { uid: true, .. } => "UID THREAD",
        }
    }
}

/// A SELECT/EXAMINE parameter (RFC 4466 `select-param`). postern serves none of them yet;
/// they are kept so the session can refuse or ignore them knowingly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectParam {
    /// `(CONDSTORE)` (RFC 7162).
    CondStore,
    /// `QRESYNC (uidvalidity modseq [known-uids [(seq-match)]])` (RFC 7162 §3.2.5).
    QResync(QResyncParam),
    /// Any other parameter, by its upper-cased name; its value is parsed and dropped.
    Other(String),
}

/// What a client that resynchronises with QRESYNC knows of the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResyncParam {
    pub uid_validity: u32,
    pub modseq: u64,
    /// The UIDs the client knows (`None`: all).
    pub known_uids: Option<SequenceSet>,
    /// Sequence numbers and the UIDs the client has for them (RFC 7162 §3.2.5.2).
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// One message of an APPEND after the first (MULTIAPPEND, RFC 3502 §6: `append-message`).
#[derive(Debug, PartialEq)]
pub struct AppendMessage {
    pub flags: Vec<Flag>,
    pub date: Option<DateTime>,
    pub message: LiteralData,
    pub utf8: bool,
    /// Sent as a `literal8` (RFC 3516 §4.4): its octets must be kept exactly or refused.
    pub binary: bool,
}

/// LIST-EXTENDED selection options (RFC 5258 §3.1, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSelect {
    Subscribed,
    Remote,
    RecursiveMatch,
    SpecialUse,
    /// Unknown option, upper-cased (RFC 5258 says servers must ignore those they don't know
    /// only if they are not "normative"; the session decides).
    Other(String),
}

/// LIST-EXTENDED return options (RFC 5258 §3.2, RFC 5819, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturn {
    Subscribed,
    Children,
    SpecialUse,
    /// `STATUS (items)` (RFC 5819 LIST-STATUS).
    Status(Vec<StatusItem>),
    Other(String),
}

/// The verb of Courier's `ACL` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclVerb {
    Store,
    Delete,
    Set,
}

impl AclVerb {
    pub fn name(self) -> &'static str {
        match self {
            AclVerb::Store => "STORE",
            AclVerb::Delete => "DELETE",
            AclVerb::Set => "SET",
        }
    }
}

/// STATUS data items (RFC 3501 §6.3.10, SIZE from RFC 8438, DELETED from RFC 9051,
/// APPENDLIMIT from RFC 7889).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Size,
    Deleted,
    AppendLimit,
    /// MAILBOXID (RFC 8474 §4.2).
    MailboxId,
    /// HIGHESTMODSEQ (RFC 7162 §3.1.2.3).
    HighestModSeq,
}

/// A flag in a command (RFC 3501 §2.3.2). System flags are matched case-insensitively;
/// keywords keep the client's spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// `\Recent`: only meaningful in SEARCH; STORE and APPEND refuse it.
    Recent,
    /// `\Something` that is not a system flag (RFC 3501 `flag-extension`), without `\`.
    Extension(String),
    /// A keyword (an atom).
    Keyword(String),
}

/// A date-time as in APPEND (RFC 3501 `date-time`): `"DD-Mon-YYYY HH:MM:SS +ZZZZ"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in minutes (`+0130` is 90, `-0800` is -480).
    pub zone_minutes: i16,
}

/// A calendar date as in SEARCH (`d-Mon-yyyy`); validated (no 31-Feb).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
}

/// Literal contents: in memory, or (an APPEND message, after login) in the store's spool.
#[derive(Debug, PartialEq)]
pub enum LiteralData {
    Memory(Vec<u8>),
    /// Already in the Maildir's `tmp/` with LF line ends; removed when dropped, unless
    /// the store placed it.
    Spooled(Spooled),
}

impl LiteralData {
    /// Size in bytes, as sent.
    pub fn len(&self) -> u64 {
        match self {
            LiteralData::Memory(v) => v.len() as u64,
            LiteralData::Spooled(f) => f.received(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// SEARCH keys (RFC 3501 §6.4.4, OLDER/YOUNGER from RFC 5032). String arguments are the
/// raw bytes in the command's charset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// Several keys that must all match: the top level, or a parenthesized list.
    And(Vec<SearchKey>),
    /// A message sequence number set.
    SequenceSet(SequenceSet),
    All,
    Answered,
    Bcc(Vec<u8>),
    Before(Date),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    Deleted,
    Draft,
    Flagged,
    From(Vec<u8>),
    /// HEADER field-name string.
    Header(String, Vec<u8>),
    Keyword(String),
    Larger(u32),
    New,
    Not(Box<SearchKey>),
    Old,
    Older(u32),
    On(Date),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Since(Date),
    Smaller(u32),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    Uid(SequenceSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(String),
    Unseen,
    Younger(u32),
    /// SAVEDBEFORE, SAVEDON, SAVEDSINCE and SAVEDATESUPPORTED (RFC 8514 §4.3).
    SavedBefore(Date),
    SavedOn(Date),
    SavedSince(Date),
    SaveDateSupported,
    /// EMAILID and THREADID objectid (RFC 8474 §6).
    EmailId(String),
    ThreadId(String),
    /// `MODSEQ [entry-name entry-type] n` (RFC 7162 §3.1.5): MODSEQ at least `n`. The
    /// entry name and type are parsed and ignored: postern keeps one MODSEQ per message.
    ModSeq(u64),
}

/// ESEARCH return options (RFC 4731); SAVE from RFC 5182, PARTIAL from RFC 9394.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    Save,
    Partial(PartialRange),
}

/// A PARTIAL range (RFC 9394 §3.1 `partial-range`): positions in the ordered result,
/// 1-based, `first <= last` once parsed; with `from_end` they count back from the last
/// result (`-1:-100` is the last hundred).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialRange {
    pub first: u32,
    pub last: u32,
    pub from_end: bool,
}

/// FETCH data items (RFC 3501 §6.4.5, BINARY from RFC 3516).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    Envelope,
    Flags,
    InternalDate,
    /// RFC822: the whole message; sets \Seen.
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    /// RFC822.TEXT; sets \Seen.
    Rfc822Text,
    Uid,
    /// BODY without a section: the non-extensible BODYSTRUCTURE.
    Body,
    BodyStructure,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK[...]`.
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]`.
    BinarySize {
        part: Vec<u32>,
    },
    /// `PREVIEW` or `PREVIEW (LAZY)` (RFC 8970).
    Preview {
        lazy: bool,
    },
    /// `SAVEDATE` (RFC 8514).
    SaveDate,
    /// `EMAILID` and `THREADID` (RFC 8474 §5).
    EmailId,
    ThreadId,
    /// MODSEQ (RFC 7162 §3.1.4).
    ModSeq,
}

/// `<offset.count>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partial {
    pub offset: u32,
    /// Non-zero (RFC 3501 `nz-number`).
    pub count: u32,
}

/// A body section: part numbers (`1.2.3`, empty for the whole message) and what of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    pub part: Vec<u32>,
    /// `None` for the whole part (`BODY[]`, `BODY[1.2]`).
    pub text: Option<SectionText>,
}

/// The text specifier of a section (RFC 3501 `section-msgtext`, `section-text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    /// HEADER.FIELDS (names as sent; compare case-insensitively).
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    /// MIME: only after a part number.
    Mime,
}

/// STORE's `+FLAGS`, `-FLAGS`, `FLAGS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

/// A SORT key (RFC 5256 §3; DISPLAYFROM and DISPLAYTO from RFC 5957).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// `["REVERSE" SP] sort-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// The THREAD algorithms postern serves (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}
