//! A readiness run as people read it: a table with one row per resource and vault, then
//! for each resource not ready its findings and patch, for each not verifiable its gaps.
//! Plain text for a terminal, Markdown for a ticket or a wiki page. Every value passes
//! its sink's escaping ([`escape`](super::escape)); the JSON form is the serialized
//! [`ReadinessRun`] itself.

use crate::diagnose::readiness::{ReadinessRun, ResourceReadiness, Verdict};
use crate::diagnose::report::Unverified;

use super::escape::{markdown, plain_text};

/// The longest value shown in a table cell.
const CELL: usize = 120;

/// The resource a row is about: its ARN, else its recovery point.
pub(super) fn resource(r: &ResourceReadiness) -> &str {
    let s = &r.report.restore;
    s.source_resource_arn
        .as_deref()
        .or(s.recovery_point_arn.as_deref())
        .unwrap_or("(unknown)")
}

fn role(r: &ResourceReadiness) -> String {
    let arn = r.report.restore.role_arn.as_deref().unwrap_or("(none)");
    match r.role_source {
        Some(s) => format!("{arn} ({})", s.as_str()),
        None => arn.to_owned(),
    }
}

/// What an empty table says: nothing protected, or nothing could be listed (e.g. an
/// account whose reader role could not be assumed), which is not the same answer.
fn empty(run: &ReadinessRun) -> &'static str {
    if run.gaps.is_empty() {
        "No protected resource was found."
    } else {
        "No protected resource could be listed: nothing here is verifiable (see below)."
    }
}

/// The first line: where, and how many of each.
fn headline(run: &ReadinessRun) -> String {
    let (ready, not_ready, unknown) = run.counts();
    format!(
        "Restore readiness of account {}, Region {}: {} checked, {ready} ready, {not_ready} not ready, {unknown} not verifiable",
        run.account_id.as_deref().unwrap_or("(unknown)"),
        run.region.as_deref().unwrap_or("(unknown)"),
        run.resources.len()
    )
}

/// Caveats every resource shares, said once (e.g. SCPs not read), by `what`.
fn shared_caveats(run: &ReadinessRun) -> Vec<&Unverified> {
    let mut seen: Vec<&Unverified> = Vec::new();
    for c in run.resources.iter().flat_map(|r| r.caveats.iter()) {
        if !seen.iter().any(|s| s.what == c.what) {
            seen.push(c);
        }
    }
    seen
}

/// What the table cannot hold, for one resource not ready or not verifiable: the same
/// in every markup.
struct Block<'r> {
    verdict: Verdict,
    resource: &'r str,
    summary: &'r str,
    /// The findings (not ready) or the gaps (not verifiable), one line each, unescaped.
    items: Vec<String>,
    /// Whether the patch is verified, and its command.
    fix: Option<(bool, &'r str)>,
}

fn blocks(run: &ReadinessRun) -> Vec<Block<'_>> {
    run.resources
        .iter()
        .filter_map(|r| {
            let items = match r.verdict {
                Verdict::Ready => return None,
                Verdict::NotReady => r
                    .report
                    .missing
                    .iter()
                    .map(|f| format!("{} on {} ({})", f.action, f.resource, f.why))
                    .collect(),
                Verdict::NotVerifiable => r
                    .gaps
                    .iter()
                    .map(|g| format!("{}: {}", g.what, g.why))
                    .collect(),
            };
            let fix = (r.verdict == Verdict::NotReady)
                .then_some(r.report.patch.as_ref())
                .flatten()
                .map(|p| (r.report.verified, p.command.as_str()));
            Some(Block {
                verdict: r.verdict,
                resource: resource(r),
                summary: &r.summary,
                items,
                fix,
            })
        })
        .collect()
}

/// The notes under the details.
#[derive(Clone, Copy)]
enum Footer {
    /// Unverified for every resource alike (SCPs not read): not in the verdicts.
    Caveats,
    /// What the listing itself could not read.
    ListingGaps,
}

impl Footer {
    fn text(self) -> &'static str {
        match self {
            Footer::Caveats => "Not verified for any resource (does not change the verdicts)",
            Footer::ListingGaps => "Not read while listing (resources it hides are not above)",
        }
    }

    fn markdown(self) -> &'static str {
        match self {
            Footer::Caveats => "Not verified for any resource",
            Footer::ListingGaps => "Not read while listing",
        }
    }
}

/// The non-empty notes, each with its lines, unescaped.
fn footers(run: &ReadinessRun) -> Vec<(Footer, Vec<String>)> {
    let caveats: Vec<String> = shared_caveats(run)
        .iter()
        .map(|c| format!("{}: {}", c.what, c.why))
        .collect();
    let gaps: Vec<String> = run
        .gaps
        .iter()
        .map(|g| format!("{} failed: {}", g.call, g.error))
        .collect();
    [(Footer::Caveats, caveats), (Footer::ListingGaps, gaps)]
        .into_iter()
        .filter(|(_, items)| !items.is_empty())
        .collect()
}

/// The terminal table and details.
pub fn readiness_text(run: &ReadinessRun) -> String {
    let t = |s: &str| plain_text(s);
    let mut out = format!("{}\n", t(&headline(run)));
    if run.resources.is_empty() {
        out.push('\n');
        out.push_str(empty(run));
        out.push('\n');
    } else {
        let rows: Vec<[String; 5]> = run
            .resources
            .iter()
            .map(|r| {
                let s = &r.report.restore;
                [
                    r.verdict.label().to_owned(),
                    t(s.resource_type.as_deref().unwrap_or("?")),
                    t(resource(r)),
                    t(s.backup_vault_name.as_deref().unwrap_or("?")),
                    t(&role(r)),
                ]
            })
            .collect();
        let head = ["VERDICT", "TYPE", "RESOURCE", "VAULT", "ROLE (SOURCE)"];
        let mut widths = head.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(cell.chars().count());
            }
        }
        out.push('\n');
        let line = |cells: Vec<&str>| {
            let mut l = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths.iter()).enumerate() {
                if i + 1 == cells.len() {
                    l.push_str(cell);
                } else {
                    l.push_str(&format!("{cell:<w$}  "));
                }
            }
            l.trim_end().to_owned() + "\n"
        };
        out.push_str(&line(head.to_vec()));
        for row in &rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
    }
    for b in blocks(run) {
        out.push_str(&format!(
            "\n{} {}: {}\n",
            b.verdict.label().to_uppercase(),
            t(b.resource),
            t(b.summary)
        ));
        for item in &b.items {
            out.push_str(&format!("  - {}\n", t(item)));
        }
        if let Some((verified, command)) = b.fix {
            let how = if verified { "verified" } else { "NOT verified" };
            out.push_str(&format!("  Fix ({how}):\n    {}\n", t(command)));
        }
    }
    for (heading, items) in footers(run) {
        out.push_str(&format!("\n{}:\n", heading.text()));
        for item in items {
            out.push_str(&format!("  - {}\n", t(&item)));
        }
    }
    out
}

/// The Markdown table and details, for a ticket or a wiki page.
pub fn readiness_markdown(run: &ReadinessRun) -> String {
    let m = |s: &str| markdown(s, CELL);
    // Sentences and reasons are not cut to a cell's width.
    let p = |s: &str| markdown(s, super::escape::MAX_VALUE_CHARS);
    let mut out = format!("## {}\n\n", m(&headline(run)));
    if run.resources.is_empty() {
        out.push_str(empty(run));
        out.push('\n');
    } else {
        out.push_str("| Verdict | Type | Resource | Vault | Role (source) |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for r in &run.resources {
            let s = &r.report.restore;
            let verdict = match r.verdict {
                Verdict::Ready => "ready".to_owned(),
                other => format!("**{}**", other.label()),
            };
            out.push_str(&format!(
                "| {verdict} | {} | {} | {} | {} |\n",
                m(s.resource_type.as_deref().unwrap_or("?")),
                m(resource(r)),
                m(s.backup_vault_name.as_deref().unwrap_or("?")),
                m(&role(r)),
            ));
        }
    }
    for b in blocks(run) {
        let title = match b.verdict {
            Verdict::Ready => "Ready",
            Verdict::NotReady => "Not ready",
            Verdict::NotVerifiable => "Not verifiable",
        };
        out.push_str(&format!(
            "\n### {title}: {}\n\n{}\n\n",
            m(b.resource),
            p(b.summary)
        ));
        for item in &b.items {
            out.push_str(&format!("- {}\n", p(item)));
        }
        if let Some((verified, command)) = b.fix {
            let how = if verified { "verified" } else { "not verified" };
            // A fenced block shows the command as is: only a fence inside it could end
            // the block, and plain_text keeps it on one line.
            let cmd = plain_text(command).replace("```", "'''");
            out.push_str(&format!("\nFix ({how}):\n\n```sh\n{cmd}\n```\n"));
        }
    }
    for (heading, items) in footers(run) {
        out.push_str(&format!("\n### {}\n\n", heading.markdown()));
        for item in items {
            out.push_str(&format!("- {}\n", p(&item)));
        }
    }
    out
}
