//! `*` and `?` matching, as IAM does it for actions, resources and `...Like` conditions.
//!
//! Patterns are either plain policy text (where `*` and `?` are wildcards) or a token
//! list produced by policy-variable expansion (where text inserted from the request is
//! literal). Matching allocates nothing.

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

/// A pattern read token by token; positions are opaque cursors.
pub(crate) trait Pattern: Copy {
    /// The token at `pos` and the position after it; `None` at the end.
    fn at(self, pos: usize) -> Option<(Tok, usize)>;
}

impl Pattern for &str {
    fn at(self, pos: usize) -> Option<(Tok, usize)> {
        let c = self.get(pos..)?.chars().next()?;
        let tok = match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Char(c),
        };
        Some((tok, pos + c.len_utf8()))
    }
}

impl Pattern for &[Tok] {
    fn at(self, pos: usize) -> Option<(Tok, usize)> {
        self.get(pos).map(|t| (*t, pos + 1))
    }
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

/// Whether `text` matches `pattern`; `fold` ignores case.
pub(crate) fn glob<P: Pattern>(pattern: P, text: &str, fold: bool) -> bool {
    let mut p = 0usize;
    let mut t = 0usize;
    // Where to resume after the last `*`: (pattern position after it, text position).
    let mut resume: Option<(usize, usize)> = None;
    while let Some(tc) = text.get(t..).and_then(|s| s.chars().next()) {
        match pattern.at(p) {
            Some((Tok::Star, next)) => {
                resume = Some((next, t));
                p = next;
                continue;
            }
            Some((Tok::One, next)) => {
                p = next;
                t += tc.len_utf8();
                continue;
            }
            Some((Tok::Char(c), next)) if chars_eq(c, tc, fold) => {
                p = next;
                t += tc.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((after_star, from)) = resume else {
            return false;
        };
        // Let the last `*` swallow one more character and try again.
        let Some(skipped) = text.get(from..).and_then(|s| s.chars().next()) else {
            return false;
        };
        let from = from + skipped.len_utf8();
        resume = Some((after_star, from));
        p = after_star;
        t = from;
    }
    while let Some((Tok::Star, next)) = pattern.at(p) {
        p = next;
    }
    pattern.at(p).is_none()
}

/// Whether an IAM action pattern (`s3:Get*`, `*`) matches an action, ignoring case.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    glob(pattern, action, true)
}

/// The tokens of plain policy text.
pub(crate) fn tokens(pattern: &str) -> Vec<Tok> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut pos = 0;
    while let Some((tok, next)) = pattern.at(pos) {
        out.push(tok);
        pos = next;
    }
    out
}

/// Steps a search over two token lists may take from a pair of positions: advance the
/// first, the second, or both.
#[derive(Default)]
struct Steps {
    first: bool,
    second: bool,
    both: bool,
}

/// Depth-first search over pairs of positions, from both starts: whether both ends can
/// be reached together, moving as `steps` allows for the tokens at hand.
fn both_reach_end(a: &[Tok], b: &[Tok], steps: impl Fn(Option<Tok>, Option<Tok>) -> Steps) -> bool {
    let width = b.len() + 1;
    let mut seen = vec![false; (a.len() + 1) * width];
    let mut stack = vec![(0usize, 0usize)];
    while let Some((i, j)) = stack.pop() {
        let Some(slot) = seen.get_mut(i * width + j) else {
            continue;
        };
        if *slot {
            continue;
        }
        *slot = true;
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        if x.is_none() && y.is_none() {
            return true;
        }
        let s = steps(x, y);
        if s.first && x.is_some() {
            stack.push((i + 1, j));
        }
        if s.second && y.is_some() {
            stack.push((i, j + 1));
        }
        if s.both && x.is_some() && y.is_some() {
            stack.push((i + 1, j + 1));
        }
    }
    false
}

/// Whether some string matches both patterns (request wildcards meet policy wildcards).
pub(crate) fn overlaps(a: &[Tok], b: &[Tok]) -> bool {
    both_reach_end(a, b, |x, y| match (x, y) {
        // A star may end, or produce the character the other side needs.
        (Some(Tok::Star), _) | (_, Some(Tok::Star)) => Steps {
            first: x == Some(Tok::Star) || y == Some(Tok::Star) && x.is_some(),
            second: y == Some(Tok::Star) || x == Some(Tok::Star) && y.is_some(),
            both: false,
        },
        (Some(Tok::Char(c)), Some(Tok::Char(d))) => Steps {
            both: c == d,
            ..Steps::default()
        },
        _ => Steps {
            both: true,
            ..Steps::default()
        },
    })
}

/// Whether every string matched by `inner` is matched by `outer` (a sufficient test:
/// `inner`'s wildcards must be covered by wildcards of `outer`).
pub(crate) fn covers(outer: &[Tok], inner: &[Tok]) -> bool {
    both_reach_end(outer, inner, |x, y| match (x, y) {
        (Some(Tok::Star), _) => Steps {
            first: true,
            second: true,
            both: false,
        },
        (Some(Tok::One), Some(Tok::Char(_) | Tok::One)) => Steps {
            both: true,
            ..Steps::default()
        },
        (Some(Tok::Char(c)), Some(Tok::Char(d))) => Steps {
            both: c == d,
            ..Steps::default()
        },
        _ => Steps::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t, false), want, "{p} vs {t}");
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
    }

    #[test]
    fn overlap_and_cover_of_patterns() {
        let t = |s: &str| tokens(s);
        assert!(overlaps(&t("b/photos/*"), &t("b/*")));
        assert!(!overlaps(&t("b/private/*"), &t("b/public/*")));
        assert!(overlaps(&t("*a*"), &t("*b*")));
        assert!(covers(&t("b/*"), &t("b/photos/*")));
        assert!(!covers(&t("b/private/*"), &t("b/*")));
        assert!(covers(&t("*"), &t("*")));
        assert!(!covers(&t("b/?"), &t("b/*")));
    }
}
