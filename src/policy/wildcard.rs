//! `*` and `?` matching, as IAM does it for actions, resources and `...Like` conditions,
//! and the two questions about pairs of patterns a simulator asks (do they overlap,
//! does one cover the other).
//!
//! Patterns are either plain policy text (where `*` and `?` are wildcards) or a token
//! list produced by policy-variable expansion (where text inserted from the request is
//! literal).
//!
//! Why it is built this way: a policy is written by whoever can attach one and a request
//! by whoever makes it, so both sides may be long and crafted (issue #8, section 6: a
//! table of one flag per pair of positions took 1.5 GB; a backtracking `*` took 24 s).
//! Every question here is answered by one left-to-right pass over segments:
//!
//! - A pattern is split at its `*`s. The segment before the first `*` must match the
//!   start of the text and the one after the last `*` its end; each segment in between
//!   is placed at its leftmost possible position after the previous one. Taking the
//!   leftmost place never loses a match: the `*` that follows can absorb whatever lies
//!   between that place and any later one.
//! - A segment without `?` is searched with Knuth–Morris–Pratt, so such patterns cost
//!   O(pattern + text) time. A segment with `?` is tried at each place, O(segment ×
//!   text). Either cost is charged to a [`Budget`] *before* the search, so the caller
//!   can bound a whole evaluation whatever the patterns.
//! - Memory is linear: the pattern's tokens, the text's characters when it is not ASCII,
//!   and one KMP table of a segment's length.

use std::cell::Cell;

/// One element of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A literal character.
    Char(char),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters, including none.
    Star,
}

/// How many matching steps an evaluation may still take. Shared by reference through
/// one evaluation; once a step is refused, every later question answers "no match"
/// at once and [`Budget::exhausted`] tells the caller that the answers mean nothing.
#[derive(Debug)]
pub(crate) struct Budget {
    left: Cell<u64>,
    exhausted: Cell<bool>,
}

impl Budget {
    pub(crate) fn new(steps: u64) -> Self {
        Budget {
            left: Cell::new(steps),
            exhausted: Cell::new(false),
        }
    }

    /// For the public one-shot matchers, whose inputs the caller already holds.
    pub(crate) fn unlimited() -> Self {
        Budget::new(u64::MAX)
    }

    /// Takes `steps`; false (and remembered) when fewer are left.
    pub(crate) fn spend(&self, steps: u64) -> bool {
        if self.exhausted.get() {
            return false;
        }
        match self.left.get().checked_sub(steps) {
            Some(left) => {
                self.left.set(left);
                true
            }
            None => {
                self.exhausted.set(true);
                false
            }
        }
    }

    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted.get()
    }
}

fn steps(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Compares two characters, optionally ignoring case.
pub(crate) fn chars_eq(a: char, b: char, fold: bool) -> bool {
    if a == b {
        return true;
    }
    if !fold {
        return false;
    }
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(&b);
    }
    a.to_lowercase().eq(b.to_lowercase())
}

/// An element of a pattern slice: ASCII policy text as bytes, other text as chars, or
/// expanded tokens.
trait PatItem: Copy {
    fn tok(self) -> Tok;
}

impl PatItem for u8 {
    fn tok(self) -> Tok {
        match self {
            b'*' => Tok::Star,
            b'?' => Tok::One,
            b => Tok::Char(char::from(b)),
        }
    }
}

impl PatItem for char {
    fn tok(self) -> Tok {
        match self {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Char(c),
        }
    }
}

impl PatItem for Tok {
    fn tok(self) -> Tok {
        self
    }
}

/// How a pattern's literal or `?` fits one element of the text.
trait Relation<T: Copy> {
    /// Whether `p` (never [`Tok::Star`]) fits the text element `t`.
    fn fits(&self, p: Tok, t: T) -> bool;
    /// Whether two literals of a pattern fit exactly the same text elements, which makes
    /// Knuth–Morris–Pratt valid for segments without `?`. `None` when the text holds
    /// elements (a `?` of another pattern) that fit every literal, where it is not.
    fn same(&self, a: char, b: char) -> Option<bool>;
}

/// Plain matching of text.
struct Text {
    fold: bool,
}

impl Relation<u8> for Text {
    fn fits(&self, p: Tok, t: u8) -> bool {
        match p {
            Tok::Char(c) => chars_eq(c, char::from(t), self.fold),
            Tok::One => true,
            Tok::Star => false,
        }
    }
    fn same(&self, a: char, b: char) -> Option<bool> {
        Some(chars_eq(a, b, self.fold))
    }
}

impl Relation<char> for Text {
    fn fits(&self, p: Tok, t: char) -> bool {
        match p {
            Tok::Char(c) => chars_eq(c, t, self.fold),
            Tok::One => true,
            Tok::Star => false,
        }
    }
    fn same(&self, a: char, b: char) -> Option<bool> {
        Some(chars_eq(a, b, self.fold))
    }
}

/// Another pattern read as text over the alphabet plus the symbols `?` and `*`, for
/// [`covers`]: a literal fits only itself, `?` fits a literal or `?`.
struct Cover;

impl Relation<Tok> for Cover {
    fn fits(&self, p: Tok, t: Tok) -> bool {
        match (p, t) {
            (Tok::Char(c), Tok::Char(d)) => c == d,
            (Tok::One, Tok::Char(_) | Tok::One) => true,
            _ => false,
        }
    }
    fn same(&self, a: char, b: char) -> Option<bool> {
        Some(a == b)
    }
}

/// A pattern without `*` read as text whose `?`s stand for any character, for
/// [`overlaps`].
struct Overlap;

impl Relation<Tok> for Overlap {
    fn fits(&self, p: Tok, t: Tok) -> bool {
        match (p, t) {
            (Tok::Char(c), Tok::Char(d)) => c == d,
            (Tok::Star, _) | (_, Tok::Star) => false,
            _ => true,
        }
    }
    fn same(&self, _: char, _: char) -> Option<bool> {
        None
    }
}

fn all_fit<P: PatItem, T: Copy, R: Relation<T>>(pattern: &[P], text: &[T], rel: &R) -> bool {
    pattern.len() == text.len() && pattern.iter().zip(text).all(|(p, t)| rel.fits(p.tok(), *t))
}

/// Whether `text` matches `pattern` under `rel`, charging the work to `budget`.
fn match_segments<P: PatItem, T: Copy, R: Relation<T>>(
    pattern: &[P],
    text: &[T],
    rel: &R,
    budget: &Budget,
) -> bool {
    if !budget.spend(steps(pattern.len().max(1))) {
        return false;
    }
    let is_star = |p: &P| p.tok() == Tok::Star;
    let Some(first) = pattern.iter().position(is_star) else {
        return all_fit(pattern, text, rel);
    };
    let last = pattern.iter().rposition(is_star).unwrap_or(first);
    let head = pattern.get(..first).unwrap_or_default();
    let tail = pattern.get(last + 1..).unwrap_or_default();
    let middle = pattern.get(first + 1..last).unwrap_or_default();
    let Some(inner_len) = text.len().checked_sub(head.len() + tail.len()) else {
        return false;
    };
    let (text_head, rest) = text.split_at(head.len().min(text.len()));
    let (mut inner, text_tail) = rest.split_at(inner_len.min(rest.len()));
    if !all_fit(head, text_head, rel) || !all_fit(tail, text_tail, rel) {
        return false;
    }
    for segment in middle.split(is_star).filter(|s| !s.is_empty()) {
        match find(segment, inner, rel, budget) {
            Some(end) => inner = inner.get(end..).unwrap_or_default(),
            None => return false,
        }
    }
    true
}

/// The end of the leftmost place where `segment` (no `*`) fits in `text`.
fn find<P: PatItem, T: Copy, R: Relation<T>>(
    segment: &[P],
    text: &[T],
    rel: &R,
    budget: &Budget,
) -> Option<usize> {
    let places = text.len().checked_sub(segment.len())? + 1;
    let literal = segment.iter().all(|p| p.tok() != Tok::One);
    if literal && rel.same('a', 'a').is_some() {
        if !budget.spend(steps(2 * segment.len() + text.len())) {
            return None;
        }
        return kmp(segment, text, rel);
    }
    if !budget.spend(steps(places).saturating_mul(steps(segment.len()))) {
        return None;
    }
    (0..places).find_map(|start| {
        let window = text.get(start..start + segment.len())?;
        all_fit(segment, window, rel).then_some(start + segment.len())
    })
}

fn literal_of<P: PatItem>(p: Option<&P>) -> Option<char> {
    match p.map(|p| p.tok()) {
        Some(Tok::Char(c)) => Some(c),
        _ => None,
    }
}

/// Knuth–Morris–Pratt over a segment of literals: linear in segment and text.
fn kmp<P: PatItem, T: Copy, R: Relation<T>>(segment: &[P], text: &[T], rel: &R) -> Option<usize> {
    let same = |i: usize, j: usize| -> bool {
        match (literal_of(segment.get(i)), literal_of(segment.get(j))) {
            (Some(a), Some(b)) => rel.same(a, b).unwrap_or(false),
            _ => false,
        }
    };
    // fail[i]: length of the longest proper border of segment[..=i].
    let mut fail = vec![0usize; segment.len()];
    let mut k = 0usize;
    for i in 1..segment.len() {
        while k > 0 && !same(i, k) {
            k = fail.get(k - 1).copied().unwrap_or(0);
        }
        if same(i, k) {
            k += 1;
        }
        if let Some(slot) = fail.get_mut(i) {
            *slot = k;
        }
    }
    let fits = |j: usize, t: T| segment.get(j).is_some_and(|p| rel.fits(p.tok(), t));
    let mut j = 0usize;
    for (i, t) in text.iter().enumerate() {
        while j > 0 && !fits(j, *t) {
            j = fail.get(j - 1).copied().unwrap_or(0);
        }
        if fits(j, *t) {
            j += 1;
        }
        if j == segment.len() {
            return Some(i + 1);
        }
    }
    None
}

/// A pattern as a slice the matcher can index.
pub(crate) enum PatSlice<'a> {
    Ascii(&'a [u8]),
    Chars(Vec<char>),
    Toks(&'a [Tok]),
}

/// Something that can be read as a pattern: policy text or expanded tokens.
pub(crate) trait Pattern<'a>: Copy {
    fn as_slice(self) -> PatSlice<'a>;
}

impl<'a> Pattern<'a> for &'a str {
    fn as_slice(self) -> PatSlice<'a> {
        if self.is_ascii() {
            PatSlice::Ascii(self.as_bytes())
        } else {
            PatSlice::Chars(self.chars().collect())
        }
    }
}

impl<'a> Pattern<'a> for &'a [Tok] {
    fn as_slice(self) -> PatSlice<'a> {
        PatSlice::Toks(self)
    }
}

/// Whether `text` matches `pattern`; `fold` ignores case.
pub(crate) fn glob<'a, P: Pattern<'a>>(
    pattern: P,
    text: &str,
    fold: bool,
    budget: &Budget,
) -> bool {
    let rel = Text { fold };
    let pattern = pattern.as_slice();
    if text.is_ascii() {
        let t = text.as_bytes();
        match &pattern {
            PatSlice::Ascii(p) => match_segments(p, t, &rel, budget),
            PatSlice::Chars(p) => match_segments(p, t, &rel, budget),
            PatSlice::Toks(p) => match_segments(p, t, &rel, budget),
        }
    } else {
        if !budget.spend(steps(text.len())) {
            return false;
        }
        let t: Vec<char> = text.chars().collect();
        match &pattern {
            PatSlice::Ascii(p) => match_segments(p, &t, &rel, budget),
            PatSlice::Chars(p) => match_segments(p, &t, &rel, budget),
            PatSlice::Toks(p) => match_segments(p, &t, &rel, budget),
        }
    }
}

/// Whether an IAM action pattern (`s3:Get*`, `*`) matches an action, ignoring case.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    glob(pattern, action, true, &Budget::unlimited())
}

/// [`action_matches`] within an evaluation's budget.
pub(crate) fn action_matches_in(pattern: &str, action: &str, budget: &Budget) -> bool {
    glob(pattern, action, true, budget)
}

/// The tokens of plain policy text.
pub(crate) fn tokens(pattern: &str) -> Vec<Tok> {
    pattern.chars().map(|c| c.tok()).collect()
}

fn star_bounds(p: &[Tok]) -> Option<(usize, usize)> {
    let first = p.iter().position(|t| *t == Tok::Star)?;
    let last = p.iter().rposition(|t| *t == Tok::Star).unwrap_or(first);
    Some((first, last))
}

/// Whether some string matches both patterns (request wildcards meet policy wildcards).
///
/// When both hold a `*`, they overlap exactly when their parts before the first `*`
/// agree on their common length and so do their parts after the last `*`: the string
/// made of the longer head, then every middle segment of one pattern, then every middle
/// segment of the other, then the longer tail, matches both (each pattern's `*`s
/// absorb the other's segments). When one has no `*`, it has one length and the other
/// is matched against it as text whose `?`s fit anything.
pub(crate) fn overlaps(a: &[Tok], b: &[Tok], budget: &Budget) -> bool {
    match (star_bounds(a), star_bounds(b)) {
        (Some((fa, la)), Some((fb, lb))) => {
            if !budget.spend(steps(a.len() + b.len())) {
                return false;
            }
            let agree = |x: &Tok, y: &Tok| Overlap.fits(*x, *y);
            let heads = a
                .iter()
                .take(fa)
                .zip(b.iter().take(fb))
                .all(|(x, y)| agree(x, y));
            let tails = a
                .iter()
                .rev()
                .take(a.len() - la - 1)
                .zip(b.iter().rev().take(b.len() - lb - 1))
                .all(|(x, y)| agree(x, y));
            heads && tails
        }
        (None, _) => match_segments(b, a, &Overlap, budget),
        (Some(_), None) => match_segments(a, b, &Overlap, budget),
    }
}

/// Whether every string matched by `inner` is matched by `outer` (a sufficient test:
/// `inner`'s wildcards must be covered by wildcards of `outer`). This is `outer`
/// matched against `inner` read as text in which `?` and `*` are symbols: an outer `*`
/// takes anything, an outer `?` a literal or `?`, a literal only itself.
pub(crate) fn covers(outer: &[Tok], inner: &[Tok], budget: &Budget) -> bool {
    match_segments(outer, inner, &Cover, budget)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn g(p: &str, t: &str) -> bool {
        glob(p, t, false, &Budget::unlimited())
    }

    #[test]
    fn glob_table() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a*c", "abbbc", true),
            ("a*c", "abbb", false),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b*", "xxbxxaxx", false),
            ("é?", "éß", true),
            ("**", "x", true),
            ("a*a", "a", false),
            ("*ab*ab*", "abab", true),
            ("*ab*ab*", "aba", false),
            ("*aab*", "aaab", true),
            ("*a?b*", "xxaxbyy", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(g(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn actions_ignore_case_but_not_whitespace() {
        assert!(action_matches("S3:get*", "s3:GetObject"));
        assert!(action_matches("*", "kms:Decrypt"));
        assert!(!action_matches("s3:GetObject ", "s3:GetObject"));
        assert!(!action_matches("s3:", "s3:GetObject"));
        assert!(action_matches(
            "ec2:Describe?nstances",
            "ec2:DescribeInstances"
        ));
        // Case folding inside a searched middle segment (KMP with folding).
        assert!(action_matches("*OBJECT*", "s3:GetObjectAcl"));
        assert!(action_matches("*É*", "xéx"));
    }

    #[test]
    fn overlap_and_cover_of_patterns() {
        let t = |s: &str| tokens(s);
        let b = Budget::unlimited();
        assert!(overlaps(&t("b/photos/*"), &t("b/*"), &b));
        assert!(!overlaps(&t("b/private/*"), &t("b/public/*"), &b));
        assert!(overlaps(&t("*a*"), &t("*b*"), &b));
        assert!(covers(&t("b/*"), &t("b/photos/*"), &b));
        assert!(!covers(&t("b/private/*"), &t("b/*"), &b));
        assert!(covers(&t("*"), &t("*"), &b));
        assert!(!covers(&t("b/?"), &t("b/*"), &b));
    }

    #[test]
    fn an_exhausted_budget_answers_no_and_says_so() {
        let b = Budget::new(10);
        let long = "a".repeat(100);
        assert!(!glob(long.as_str(), &long, false, &b));
        assert!(b.exhausted());
        // Later questions are refused too, even cheap ones.
        assert!(!glob("*", "x", false, &b));
    }

    /// The previous search over pairs of positions: obviously correct, quadratic.
    fn reference_pairs(
        a: &[Tok],
        b: &[Tok],
        steps: impl Fn(Option<Tok>, Option<Tok>) -> (bool, bool, bool),
    ) -> bool {
        let width = b.len() + 1;
        let mut seen = vec![false; (a.len() + 1) * width];
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, j)) = stack.pop() {
            if seen[i * width + j] {
                continue;
            }
            seen[i * width + j] = true;
            let (x, y) = (a.get(i).copied(), b.get(j).copied());
            if x.is_none() && y.is_none() {
                return true;
            }
            let (first, second, both) = steps(x, y);
            if first && x.is_some() {
                stack.push((i + 1, j));
            }
            if second && y.is_some() {
                stack.push((i, j + 1));
            }
            if both && x.is_some() && y.is_some() {
                stack.push((i + 1, j + 1));
            }
        }
        false
    }

    fn reference_overlaps(a: &[Tok], b: &[Tok]) -> bool {
        reference_pairs(a, b, |x, y| match (x, y) {
            (Some(Tok::Star), _) | (_, Some(Tok::Star)) => (
                x == Some(Tok::Star) || y == Some(Tok::Star) && x.is_some(),
                y == Some(Tok::Star) || x == Some(Tok::Star) && y.is_some(),
                false,
            ),
            (Some(Tok::Char(c)), Some(Tok::Char(d))) => (false, false, c == d),
            _ => (false, false, true),
        })
    }

    fn reference_covers(outer: &[Tok], inner: &[Tok]) -> bool {
        reference_pairs(outer, inner, |x, y| match (x, y) {
            (Some(Tok::Star), _) => (true, true, false),
            (Some(Tok::One), Some(Tok::Char(_) | Tok::One)) => (false, false, true),
            (Some(Tok::Char(c)), Some(Tok::Char(d))) => (false, false, c == d),
            _ => (false, false, false),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn overlap_agrees_with_the_pair_search(a in "[ab*?]{0,9}", b in "[ab*?]{0,9}") {
            let (a, b) = (tokens(&a), tokens(&b));
            prop_assert_eq!(overlaps(&a, &b, &Budget::unlimited()), reference_overlaps(&a, &b));
        }

        #[test]
        fn cover_agrees_with_the_pair_search(a in "[ab*?]{0,9}", b in "[ab*?]{0,9}") {
            let (a, b) = (tokens(&a), tokens(&b));
            prop_assert_eq!(covers(&a, &b, &Budget::unlimited()), reference_covers(&a, &b));
        }

        #[test]
        fn folded_glob_agrees_with_lowercased_glob(p in "[aAbB*?]{0,9}", t in "[aAbB]{0,12}") {
            let b = Budget::unlimited();
            prop_assert_eq!(
                glob(p.as_str(), &t, true, &b),
                glob(p.to_lowercase().as_str(), &t.to_lowercase(), false, &b)
            );
        }
    }
}
