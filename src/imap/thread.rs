//! The THREAD engine (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES over the keys the
//! SORT engine keeps (`sort.rs`), and the `thread-list` syntax of §4.
//!
//! Trees are kept in an arena of nodes (`usize` handles) and walked without recursion, so
//! a hostile folder (a reference chain 100,000 deep) cannot exhaust the stack.

use std::cmp::Ordering;

use rustc_hash::FxHashMap as HashMap;

use super::sort::Keyed;

/// One message or dummy of a thread tree.
#[derive(Debug, Default, Clone)]
struct Node {
    /// Position in the `Keyed` list; `None` for a dummy.
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// A forest: node 0 is the root (RFC 5256's dummy "root" of every thread).
struct Tree<'k> {
    nodes: Vec<Node>,
    msgs: &'k [Keyed],
}

const ROOT: usize = 0;

impl<'k> Tree<'k> {
    fn new(msgs: &'k [Keyed]) -> Tree<'k> {
        Tree {
            nodes: vec![Node::default()],
            msgs,
        }
    }

    fn add(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node {
            msg,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    fn is_dummy(&self, n: usize) -> bool {
        self.nodes[n].msg.is_none()
    }

    fn unlink(&mut self, n: usize) {
        if let Some(p) = self.nodes[n].parent.take() {
            self.nodes[p].children.retain(|&c| c != n);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    /// Whether `a` is `b` or lies below it (linking `a` as `b`'s parent makes a loop).
    fn is_within(&self, a: usize, b: usize) -> bool {
        let mut at = Some(a);
        while let Some(n) = at {
            if n == b {
                return true;
            }
            at = self.nodes[n].parent;
        }
        false
    }

    /// The message a node stands for in date order: itself, or a dummy's first child
    /// (whose children are sorted before this is asked).
    fn representative(&self, n: usize) -> Option<usize> {
        let mut at = n;
        loop {
            if let Some(m) = self.nodes[at].msg {
                return Some(m);
            }
            at = *self.nodes[at].children.first()?;
        }
    }

    /// Sent date, then sequence number (RFC 5256 §2.2).
    fn by_date(&self, a: usize, b: usize) -> Ordering {
        let key = |n| {
            self.representative(n)
                .map(|m| (self.msgs[m].sent, self.msgs[m].index))
        };
        key(a).cmp(&key(b))
    }

    fn sort_children(&mut self, n: usize) {
        let mut children = std::mem::take(&mut self.nodes[n].children);
        children.sort_by(|&a, &b| self.by_date(a, b));
        self.nodes[n].children = children;
    }

    /// Every node below `top`, children after their parent (pre-order), without `top`.
    fn below(&self, top: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.nodes[top].children.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n].children.iter().rev());
        }
        out
    }

    /// Sorts every set of siblings by date, the deepest first, so a dummy's first child
    /// is known before the dummy is placed (REFERENCES step 6).
    fn sort_all(&mut self) {
        let order = self.below(ROOT);
        for &n in order.iter().rev() {
            self.sort_children(n);
        }
        self.sort_children(ROOT);
    }

    /// The base subject of a top-level node (a dummy's is its first child's) and whether
    /// it was a reply or forward.
    fn thread_subject(&self, n: usize) -> Option<(&'k str, bool)> {
        let m = match self.nodes[n].msg {
            Some(m) => m,
            None => self.nodes[*self.nodes[n].children.first()?].msg?,
        };
        let msgs = self.msgs;
        let k = &msgs[m].keys;
        (!k.subject.is_empty()).then_some((k.subject.as_str(), k.subject_is_reply))
    }

    /// `thread-list` for every thread under the root (RFC 5256 §4): a chain of single
    /// children as numbers separated by spaces, several children each in parentheses.
    fn write(&self, numbers: &dyn Fn(&Keyed) -> u32) -> String {
        enum Step {
            Open(usize),
            Close,
        }
        let mut out = String::new();
        // Each list pushes its own ')' before its nested lists, so it pops after them.
        let mut stack: Vec<Step> = self.nodes[ROOT]
            .children
            .iter()
            .rev()
            .map(|&n| Step::Open(n))
            .collect();
        while let Some(step) = stack.pop() {
            let n = match step {
                Step::Close => {
                    out.push(')');
                    continue;
                }
                Step::Open(n) => n,
            };
            out.push('(');
            stack.push(Step::Close);
            let mut at = n;
            let mut wrote = false;
            loop {
                if let Some(m) = self.nodes[at].msg {
                    if wrote {
                        out.push(' ');
                    }
                    out.push_str(&numbers(&self.msgs[m]).to_string());
                    wrote = true;
                }
                match self.nodes[at].children.as_slice() {
                    [] => break,
                    [only] => at = *only,
                    several => {
                        if wrote {
                            out.push(' ');
                        }
                        stack.extend(several.iter().rev().map(|&c| Step::Open(c)));
                        break;
                    }
                }
            }
        }
        out
    }
}

/// THREAD=ORDEREDSUBJECT: messages grouped by base subject; in each group the first by
/// sent date is the parent of all the others (in date order); threads in the order of
/// their first message's sent date.
pub fn ordered_subject(msgs: &[Keyed], numbers: &dyn Fn(&Keyed) -> u32) -> String {
    let mut tree = Tree::new(msgs);
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&msgs[a], &msgs[b]);
        (x.keys.subject.as_str(), x.sent, x.index).cmp(&(y.keys.subject.as_str(), y.sent, y.index))
    });
    let mut current: Option<(usize, &str)> = None;
    for m in order {
        let n = tree.add(Some(m));
        let subject = msgs[m].keys.subject.as_str();
        match current {
            Some((first, s)) if s == subject => tree.link(first, n),
            _ => {
                tree.link(ROOT, n);
                current = Some((n, subject));
            }
        }
    }
    tree.sort_children(ROOT);
    tree.write(numbers)
}

/// THREAD=REFERENCES (RFC 5256 §3), steps 1 to 6.
pub fn references(msgs: &[Keyed], numbers: &dyn Fn(&Keyed) -> u32) -> String {
    let mut tree = Tree::new(msgs);
    let mut by_id: HashMap<&str, usize> = HashMap::default();
    let mut messages = Vec::with_capacity(msgs.len());
    // (1) Nodes for every message, in sequence order: a Message-ID seen before (or none)
    // gets a node no reference can name (a unique id).
    for (m, k) in msgs.iter().enumerate() {
        let node = match k.keys.message_id.as_deref() {
            Some(id) => match by_id.get(id) {
                Some(&n) if tree.is_dummy(n) => {
                    tree.nodes[n].msg = Some(m);
                    n
                }
                Some(_) => tree.add(Some(m)),
                None => {
                    let n = tree.add(Some(m));
                    by_id.insert(id, n);
                    n
                }
            },
            None => tree.add(Some(m)),
        };
        messages.push(node);
        // (1A) Each reference the parent of the next, unless it has one or a loop comes.
        let mut prev: Option<usize> = None;
        for id in &k.keys.references {
            let n = *by_id.entry(id.as_str()).or_insert_with(|| {
                tree.nodes.push(Node::default());
                tree.nodes.len() - 1
            });
            if let Some(p) = prev
                && p != n
                && tree.nodes[n].parent.is_none()
                && !tree.is_within(p, n)
            {
                tree.link(p, n);
            }
            prev = Some(n);
        }
        // (1B) The last reference is the parent: a parent from a truncated References
        // elsewhere is replaced; no loop; no references, no parent.
        tree.unlink(node);
        if let Some(p) = prev
            && !tree.is_within(p, node)
        {
            tree.link(p, node);
        }
    }
    // (2) Every node without a parent is a child of the root.
    for n in 1..tree.nodes.len() {
        if tree.nodes[n].parent.is_none() {
            tree.link(ROOT, n);
        }
    }
    prune_dummies(&mut tree);
    // (4) The threads by sent date (a dummy by its first child, after sorting them).
    for n in tree.nodes[ROOT].children.clone() {
        if tree.is_dummy(n) {
            tree.sort_children(n);
        }
    }
    tree.sort_children(ROOT);
    merge_by_subject(&mut tree);
    // (6) Every set of siblings by sent date.
    tree.sort_all();
    tree.write(numbers)
}

/// (3) A dummy without children goes; one with children is replaced by them, except that
/// several children are not made top-level threads of their own. Children first, so a
/// dummy's children are final when it is judged.
fn prune_dummies(tree: &mut Tree) {
    let order = tree.below(ROOT);
    for &n in order.iter().rev().chain(std::iter::once(&ROOT)) {
        let children = std::mem::take(&mut tree.nodes[n].children);
        let mut kept = Vec::with_capacity(children.len());
        for c in children {
            if !tree.is_dummy(c) || (n == ROOT && tree.nodes[c].children.len() > 1) {
                kept.push(c);
                continue;
            }
            tree.nodes[c].parent = None;
            for g in std::mem::take(&mut tree.nodes[c].children) {
                tree.nodes[g].parent = Some(n);
                kept.push(g);
            }
        }
        tree.nodes[n].children = kept;
    }
}

/// (5) Threads with the same base subject are put together.
fn merge_by_subject(tree: &mut Tree) {
    // (5A, 5B) The table: per subject one thread, a dummy rather than a message, a
    // message that is no reply or forward rather than one that is.
    let tops = tree.nodes[ROOT].children.clone();
    let mut table: HashMap<&str, usize> = HashMap::default();
    for &n in &tops {
        let Some((subject, reply)) = tree.thread_subject(n) else {
            continue;
        };
        match table.get(subject) {
            None => {
                table.insert(subject, n);
            }
            Some(&old) => {
                let old_reply = tree.thread_subject(old).is_some_and(|(_, r)| r);
                if !tree.is_dummy(old) && (tree.is_dummy(n) || (old_reply && !reply)) {
                    table.insert(subject, n);
                }
            }
        }
    }
    // (5C) Merge every other thread with that subject into the one in the table. The
    // root's list is set aside meanwhile (its threads keep the root as parent), so moving
    // a thread below another does not search a list of 100,000 threads each time.
    tree.nodes[ROOT].children.clear();
    for &n in &tops {
        if tree.nodes[n].parent != Some(ROOT) {
            continue;
        }
        let Some((subject, reply)) = tree.thread_subject(n) else {
            continue;
        };
        let Some(&old) = table.get(subject) else {
            continue;
        };
        if old == n {
            continue;
        }
        let old_reply = tree.thread_subject(old).is_some_and(|(_, r)| r);
        if tree.is_dummy(old) && tree.is_dummy(n) {
            // Both dummies: the children of both become siblings.
            for c in std::mem::take(&mut tree.nodes[n].children) {
                tree.nodes[c].parent = None;
                tree.link(old, c);
            }
            tree.unlink(n);
        } else if tree.is_dummy(old) || (reply && !old_reply) {
            // Into the dummy, or a reply below the thread it replies to.
            tree.link(old, n);
        } else {
            // Otherwise both below a new dummy, which takes the old one's place.
            let dummy = tree.add(None);
            tree.link(ROOT, dummy);
            tree.link(dummy, old);
            tree.link(dummy, n);
            table.insert(subject, dummy);
        }
    }
    let dummies = std::mem::take(&mut tree.nodes[ROOT].children);
    let mut threads: Vec<usize> = tops
        .into_iter()
        .filter(|&n| tree.nodes[n].parent == Some(ROOT))
        .collect();
    threads.extend(dummies);
    tree.nodes[ROOT].children = threads;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{SortKeys, base_subject, fold};

    /// A message: sequence number, Date (seconds), subject, Message-ID, references.
    fn msg(seq: usize, sent: i64, subject: &str, id: &str, refs: &[&str]) -> Keyed {
        let (base, reply) = base_subject(subject);
        Keyed {
            index: seq - 1,
            sent,
            keys: SortKeys {
                subject: fold(&base),
                subject_is_reply: reply,
                message_id: (!id.is_empty()).then(|| id.to_string()),
                references: refs.iter().map(|r| r.to_string()).collect(),
                ..SortKeys::default()
            },
        }
    }

    fn seq(k: &Keyed) -> u32 {
        k.index as u32 + 1
    }

    #[test]
    fn references_links_dummies_loops_and_subjects() {
        let msgs = [
            msg(1, 10, "A", "a@x", &[]),
            msg(2, 20, "Re: A", "b@x", &["a@x"]),
            msg(3, 30, "Re: A", "c@x", &["a@x", "b@x"]),
            msg(4, 40, "Re: A", "d@x", &["a@x"]),
            // Parent missing: both children of a dummy, which stays (two children).
            msg(5, 50, "Re: B", "e@x", &["gone@x"]),
            msg(6, 60, "Re: B", "f@x", &["gone@x"]),
            // A loop in References: broken, no crash.
            msg(7, 70, "C", "g@x", &["h@x", "g@x"]),
            msg(8, 80, "Re: C", "h@x", &["g@x", "h@x"]),
            // Subject only: joined under the thread of "D".
            msg(9, 90, "D", "i@x", &[]),
            msg(10, 100, "Re: D", "j@x", &[]),
            // Same subject, neither a reply: a dummy above both.
            msg(11, 5, "E", "k@x", &[]),
            msg(12, 6, "E", "k@x", &[]),
            // Single missing parent: the one child is promoted.
            msg(13, 1, "F", "l@x", &["nowhere@x"]),
            // No subject: never merged.
            msg(14, 200, "", "", &[]),
            msg(15, 201, "", "", &[]),
        ];
        let out = references(&msgs, &seq);
        assert_eq!(out, "(13)((11)(12))(1 (2 3)(4))((5)(6))(7 8)(9 10)(14)(15)");
    }

    #[test]
    fn rfc_5256_style_nesting_and_ordered_subject() {
        // 3 is the root; 6 replies to 3; 4 and 44 reply to 6; 23 to 4; 7 to 44; 96 to 7.
        let msgs = [
            msg(2, 1, "other", "two@x", &[]),
            msg(3, 2, "t", "three@x", &[]),
            msg(4, 4, "re: t", "four@x", &["three@x", "six@x"]),
            msg(6, 3, "re: t", "six@x", &["three@x"]),
            msg(7, 6, "re: t", "seven@x", &["three@x", "six@x", "forty4@x"]),
            msg(23, 7, "re: t", "twenty3@x", &["three@x", "six@x", "four@x"]),
            msg(44, 5, "re: t", "forty4@x", &["three@x", "six@x"]),
            msg(96, 8, "re: t", "ninety6@x", &["seven@x"]),
        ];
        assert_eq!(references(&msgs, &seq), "(2)(3 6 (4 23)(44 7 96))");
        assert_eq!(ordered_subject(&msgs, &seq), "(2)(3 (6)(4)(44)(7)(23)(96))");
        assert_eq!(ordered_subject(&msgs[..2], &seq), "(2)(3)");
        assert_eq!(ordered_subject(&msgs[1..3], &seq), "(3 4)");
        assert_eq!(references(&[], &seq), "");
    }
}
