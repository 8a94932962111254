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
fn resource(r: &ResourceReadiness) -> &str {
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

/// The terminal table and details.
pub fn readiness_text(run: &ReadinessRun) -> String {
    let t = |s: &str| plain_text(s);
    let mut out = format!("{}\n", t(&headline(run)));
    if run.resources.is_empty() {
        out.push_str("\nNo protected resource was found.\n");
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
    for r in &run.resources {
        match r.verdict {
            Verdict::Ready => {}
            Verdict::NotReady => {
                out.push_str(&format!(
                    "\nNOT READY {}: {}\n",
                    t(resource(r)),
                    t(&r.summary)
                ));
                for f in &r.report.missing {
                    out.push_str(&format!(
                        "  - {} on {} ({})\n",
                        t(&f.action),
                        t(&f.resource),
                        t(&f.why)
                    ));
                }
                if let Some(p) = &r.report.patch {
                    out.push_str(&format!(
                        "  Fix ({}):\n    {}\n",
                        if r.report.verified {
                            "verified"
                        } else {
                            "NOT verified"
                        },
                        t(&p.command)
                    ));
                }
            }
            Verdict::NotVerifiable => {
                out.push_str(&format!(
                    "\nNOT VERIFIABLE {}: {}\n",
                    t(resource(r)),
                    t(&r.summary)
                ));
                for g in &r.gaps {
                    out.push_str(&format!("  - {}: {}\n", t(&g.what), t(&g.why)));
                }
            }
        }
    }
    let caveats = shared_caveats(run);
    if !caveats.is_empty() {
        out.push_str("\nNot verified for any resource (does not change the verdicts):\n");
        for c in caveats {
            out.push_str(&format!("  - {}: {}\n", t(&c.what), t(&c.why)));
        }
    }
    if !run.gaps.is_empty() {
        out.push_str("\nNot read while listing (resources it hides are not above):\n");
        for g in &run.gaps {
            out.push_str(&format!("  - {} failed: {}\n", t(&g.call), t(&g.error)));
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
        out.push_str("No protected resource was found.\n");
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
    for r in &run.resources {
        match r.verdict {
            Verdict::Ready => {}
            Verdict::NotReady => {
                out.push_str(&format!(
                    "\n### Not ready: {}\n\n{}\n\n",
                    m(resource(r)),
                    p(&r.summary)
                ));
                for f in &r.report.missing {
                    out.push_str(&format!(
                        "- {} on {} ({})\n",
                        m(&f.action),
                        m(&f.resource),
                        p(&f.why)
                    ));
                }
                if let Some(p) = &r.report.patch {
                    // A fenced block shows the command as is: only a fence inside it
                    // could end the block, and plain_text keeps it on one line.
                    let cmd = plain_text(&p.command).replace("```", "'''");
                    out.push_str(&format!(
                        "\nFix ({}):\n\n```sh\n{cmd}\n```\n",
                        if r.report.verified {
                            "verified"
                        } else {
                            "not verified"
                        }
                    ));
                }
            }
            Verdict::NotVerifiable => {
                out.push_str(&format!(
                    "\n### Not verifiable: {}\n\n{}\n\n",
                    m(resource(r)),
                    p(&r.summary)
                ));
                for g in &r.gaps {
                    out.push_str(&format!("- {}: {}\n", m(&g.what), p(&g.why)));
                }
            }
        }
    }
    let caveats = shared_caveats(run);
    if !caveats.is_empty() {
        out.push_str("\n### Not verified for any resource\n\n");
        for c in caveats {
            out.push_str(&format!("- {}: {}\n", m(&c.what), p(&c.why)));
        }
    }
    if !run.gaps.is_empty() {
        out.push_str("\n### Not read while listing\n\n");
        for g in &run.gaps {
            out.push_str(&format!("- {} failed: {}\n", m(&g.call), p(&g.error)));
        }
    }
    out
}
