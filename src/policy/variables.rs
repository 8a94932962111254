//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, the escapes
//! `${*}`, `${?}`, `${$}` and defaults `${aws:username, 'nobody'}`.
//!
//! Text taken from the request is literal: a `*` in a user name is not a wildcard.

use super::context::Context;
use super::limits::MAX_EXPANDED_CHARS;
use super::wildcard::Tok;

/// Whether the text holds anything that looks like a variable.
pub(crate) fn has_variables(text: &str) -> bool {
    text.contains("${")
}

/// Expands the variables of `text` into pattern tokens. Outside variables, `*` and
/// `?` are wildcards when `wildcards` is set. `None` when a variable has no value
/// (its key is then recorded in `missing`): such a value matches nothing.
pub(crate) fn expand(
    text: &str,
    ctx: &Context<'_>,
    wildcards: bool,
    missing: &mut Vec<String>,
) -> Option<Vec<Tok>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        push_text(&mut out, rest.get(..start)?, wildcards);
        let after = rest.get(start + 2..)?;
        let Some(end) = after.find('}') else {
            // An unterminated `${` is plain text.
            push_text(&mut out, rest.get(start..)?, wildcards);
            return Some(out);
        };
        let inner = after.get(..end)?;
        resolve(inner, ctx, missing, &mut out)?;
        if out.len() > MAX_EXPANDED_CHARS {
            within_limit(&out, ctx)?;
        }
        rest = after.get(end + 1..)?;
    }
    push_text(&mut out, rest, wildcards);
    within_limit(&out, ctx)?;
    Some(out)
}

fn within_limit(out: &[Tok], ctx: &Context<'_>) -> Option<()> {
    if out.len() > MAX_EXPANDED_CHARS {
        ctx.budget().spend(u64::MAX);
        return None;
    }
    ctx.budget()
        .spend(u64::try_from(out.len()).unwrap_or(u64::MAX))
        .then_some(())
}

fn push_text(out: &mut Vec<Tok>, text: &str, wildcards: bool) {
    out.extend(text.chars().map(|c| match c {
        '*' if wildcards => Tok::Star,
        '?' if wildcards => Tok::One,
        c => Tok::Char(c),
    }));
}

fn resolve(
    inner: &str,
    ctx: &Context<'_>,
    missing: &mut Vec<String>,
    out: &mut Vec<Tok>,
) -> Option<()> {
    match inner.trim() {
        "*" => out.push(Tok::Char('*')),
        "?" => out.push(Tok::Char('?')),
        "$" => out.push(Tok::Char('$')),
        spec => {
            let (key, default) = match spec.split_once(',') {
                Some((key, default)) => (key.trim(), Some(unquote(default.trim()))),
                None => (spec, None),
            };
            let value = match ctx.get(key) {
                Some([one]) => one.as_str(),
                // A multivalued key cannot stand in a variable.
                Some([_, _, ..]) => return None,
                Some([]) | None => match default {
                    Some(d) => d,
                    None => {
                        missing.push(key.to_owned());
                        return None;
                    }
                },
            };
            out.extend(value.chars().map(Tok::Char));
        }
    }
    Some(())
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(s)
}
