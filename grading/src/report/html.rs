//! One self-contained HTML page: the score, every check with what it expected, what it saw and
//! the hint, and - when an engine was there to ask - a picture of the running system: its
//! containers by where they stand on a request's path (front door, apps, data), the ports this
//! machine publishes, the hops a request takes over shared networks, the volumes, and the
//! containers at fault marked in red.
//!
//! No script, no external file: it opens from disk, from a mail or a course platform's viewer.
//! Hidden checks show their points but not their details, as in the terminal report.

use super::{CheckReport, Report, Status};
use crate::picture::{Tier, Topology};
use std::fmt::Write;

/// The colour that marks a container at fault (nothing else on the page uses it).
pub const FAULT: &str = "#c62828";

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let title = format!("{} - {}", report.lab, report.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = writeln!(out, "<header><h1>{}</h1>", esc(&title));
    if let Some(who) = &report.provenance {
        let commit = who.commit.as_deref().map(|c| format!(" at {}", &c[..c.len().min(12)])).unwrap_or_default();
        let _ = writeln!(
            out,
            "<p class=\"who\">{}: {}{} &middot; graded by {} (rubric {}) from {} to {}</p>",
            esc(&who.student),
            esc(&who.submission),
            esc(&commit),
            esc(&who.grader_version),
            esc(&who.rubric_hash),
            esc(&who.started_at),
            esc(&who.finished_at)
        );
    }
    let percent = if report.max_score() == 0 { 100 } else { report.score() * 100 / report.max_score() };
    let verdict = if report.full_marks() { "full" } else { "short" };
    let _ = writeln!(
        out,
        "<p class=\"score {verdict}\"><strong>{}/{} points ({percent}%)</strong>: {} passed, {} failed, {} skipped in {:.1} s</p>",
        report.score(),
        report.max_score(),
        report.count(Status::Passed),
        report.count(Status::Failed),
        report.count(Status::Skipped),
        report.duration.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "<div class=\"bar\" role=\"img\" aria-label=\"{percent}%\"><div style=\"width:{percent}%\"></div></div></header>"
    );
    if let Some(error) = &report.error {
        let _ = writeln!(out, "<p class=\"error\"><strong>Could not grade:</strong> {}</p>", esc(error));
    }
    if let Some(topology) = &report.topology {
        let _ = writeln!(out, "<section id=\"system\"><h2>The running system</h2>");
        let _ = writeln!(
            out,
            "<p class=\"note\">What ran while the checks did: a request comes in on a published port, \
             goes through the front door to the apps, and they reach their data over the networks they share. \
             Containers at fault are red.</p>"
        );
        out.push_str(&picture(topology));
        out.push_str(&container_table(topology));
        let _ = writeln!(out, "</section>");
    }
    for step in &report.steps {
        let _ = writeln!(
            out,
            "<section class=\"step\" id=\"step-{}\"><h2>{} <span class=\"title\">{}</span> <span class=\"points\">{}/{}</span></h2>",
            esc(&step.id),
            esc(&step.id),
            esc(&step.title),
            step.score(),
            step.max_score()
        );
        let _ = writeln!(out, "<table class=\"checks\"><tbody>");
        for check in &step.checks {
            render_check(&mut out, check);
        }
        let _ = writeln!(out, "</tbody></table></section>");
    }
    if !report.notes.is_empty() {
        let _ = writeln!(
            out,
            "<section id=\"notes\"><h2>Changed by the grader's sandbox</h2><p>Not faults, nothing to fix:</p><ul>"
        );
        for note in &report.notes {
            let _ = writeln!(out, "<li>{}</li>", esc(note));
        }
        let _ = writeln!(out, "</ul></section>");
    }
    if !report.not_run.is_empty() {
        let _ = writeln!(
            out,
            "<section id=\"not-run\"><h2>Not run here</h2><p>Not graded on this machine, not failed:</p><ul>"
        );
        for n in &report.not_run {
            let _ = writeln!(
                out,
                "<li><code>{}</code> / <code>{}</code> ({} points): {}</li>",
                esc(&n.step),
                esc(&n.id),
                n.points,
                esc(&n.why)
            );
        }
        let _ = writeln!(out, "</ul></section>");
    }
    let _ = writeln!(out, "</body>\n</html>");
    out
}

fn render_check(out: &mut String, check: &CheckReport) {
    let status = check.status.as_str();
    let shows = check.visibility.shows_details();
    let title = if shows { esc(&check.title) } else { format!("(hidden check, {})", check.visibility.as_str()) };
    let _ = writeln!(
        out,
        "<tr class=\"check {status}\" id=\"check-{id}\"><td class=\"mark\">{mark}</td><td class=\"id\"><code>{id}</code></td>\
         <td class=\"pts\">{}/{}</td><td>{title}",
        check.score(),
        check.max_score,
        id = esc(&check.id),
        mark = match check.status {
            Status::Passed => "PASS",
            Status::Failed => "FAIL",
            Status::Skipped => "SKIP",
        },
    );
    match check.status {
        Status::Failed if shows => {
            let _ = write!(
                out,
                "<dl><dt>expected</dt><dd>{}</dd><dt>actual</dt><dd>{}</dd><dt>hint</dt><dd class=\"hint\">{}</dd></dl>",
                esc(check.expected.as_deref().unwrap_or("")),
                esc(check.actual.as_deref().unwrap_or("")),
                esc(&check.hint)
            );
        }
        Status::Skipped => {
            let _ = write!(out, "<p class=\"reason\">skipped: {}</p>", esc(check.reason.as_deref().unwrap_or("")));
        }
        _ => {}
    }
    let _ = writeln!(out, "</td></tr>");
}

// The picture's geometry, in CSS pixels.
const BOX_W: i32 = 230;
const BOX_H: i32 = 92;
const GAP_Y: i32 = 26;
const COL_W: i32 = 300;
const PORT_W: i32 = 150;
const TOP: i32 = 40;

/// The SVG: columns for this machine's ports, the front door, the apps, their data and the volumes.
pub fn picture(topology: &Topology) -> String {
    let tiers: Vec<Tier> = {
        let mut t: Vec<Tier> = topology.containers.iter().map(|c| c.tier).collect();
        t.dedup();
        t
    };
    let has_ports = topology.containers.iter().any(|c| !c.published.is_empty());
    let volumes = topology.volumes();
    let x0 = if has_ports { PORT_W + 90 } else { 20 };
    let column_x = |tier: Tier| x0 + tiers.iter().position(|t| *t == tier).unwrap_or(0) as i32 * COL_W;
    let volume_x = x0 + tiers.len() as i32 * COL_W;
    // Each container's place.
    let mut rows_used = [0i32; 3];
    let mut place = Vec::new();
    for c in &topology.containers {
        let row = &mut rows_used[c.tier as usize];
        place.push((column_x(c.tier), TOP + *row * (BOX_H + GAP_Y)));
        *row += 1;
    }
    let volume_y = |i: usize| TOP + i as i32 * 48;
    let ports: usize = topology.containers.iter().map(|c| c.published.len()).sum();
    let height =
        [rows_used.iter().max().copied().unwrap_or(0) * (BOX_H + GAP_Y), volumes.len() as i32 * 48, ports as i32 * 40]
            .into_iter()
            .max()
            .unwrap_or(0)
            + TOP
            + 20;
    let width = volume_x + if volumes.is_empty() { 0 } else { 200 };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg class=\"topology\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"containers, networks, volumes and published ports\">"
    );
    let _ = writeln!(
        svg,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" \
         orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#1565c0\"/></marker></defs>"
    );
    // Column headings.
    if has_ports {
        let _ = writeln!(svg, "<text class=\"heading\" x=\"20\" y=\"20\">this machine</text>");
    }
    for tier in &tiers {
        let heading = match tier {
            Tier::FrontDoor => "front door",
            Tier::App => "apps",
            Tier::Data => "data",
        };
        let _ = writeln!(svg, "<text class=\"heading\" x=\"{}\" y=\"20\">{heading}</text>", column_x(*tier));
    }
    if !volumes.is_empty() {
        let _ = writeln!(svg, "<text class=\"heading\" x=\"{volume_x}\" y=\"20\">volumes</text>");
    }
    // The request's hops, under the boxes.
    for (from, to) in topology.hops() {
        let ((fx, fy), (tx, ty)) = (place[from], place[to]);
        let (x1, y1, x2, y2) = (fx + BOX_W, fy + BOX_H / 2, tx, ty + BOX_H / 2);
        let mid = (x1 + x2) / 2;
        let _ = writeln!(
            svg,
            "<path class=\"hop\" d=\"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}\" marker-end=\"url(#arrow)\"/>"
        );
    }
    // Volumes, and the mounts that use them.
    for (i, volume) in volumes.iter().enumerate() {
        let y = volume_y(i);
        let _ = writeln!(
            svg,
            "<g class=\"volume\" data-name=\"{v}\"><rect x=\"{volume_x}\" y=\"{y}\" width=\"180\" height=\"34\" rx=\"10\"/>\
             <text x=\"{}\" y=\"{}\">{}</text></g>",
            volume_x + 10,
            y + 22,
            esc(&ellipsis(volume, 24)),
            v = esc(volume)
        );
    }
    for (c, container) in topology.containers.iter().enumerate() {
        let (x, y) = place[c];
        for mount in container.mounts.iter().filter(|m| m.kind == "volume") {
            if let Some(i) = volumes.iter().position(|v| *v == mount.source) {
                let vy = volume_y(i) + 17;
                let _ = writeln!(
                    svg,
                    "<path class=\"mount\" d=\"M{},{} L{volume_x},{vy}\"><title>{} at {}</title></path>",
                    x + BOX_W,
                    y + BOX_H - 12,
                    esc(&mount.source),
                    esc(&mount.target)
                );
            }
        }
    }
    // This machine's ports, each to the container that publishes it - or, when that container's
    // network namespace is shared with a front door, to the front door, which is what listens.
    let mut port_row = 0;
    for (c, container) in topology.containers.iter().enumerate() {
        let namespace = format!("namespace of {}", container.name);
        let listener = topology
            .containers
            .iter()
            .position(|o| o.tier == Tier::FrontDoor && o.name != container.name && o.networks.contains(&namespace))
            .unwrap_or(c);
        let (x, y) = place[listener];
        for published in &container.published {
            let py = (TOP + port_row * 40).max(y);
            port_row = (py - TOP) / 40 + 1;
            let host = if published.host_ip.is_empty() || published.host_ip == "0.0.0.0" {
                format!(":{}", published.host_port)
            } else {
                format!("{}:{}", published.host_ip, published.host_port)
            };
            let _ = writeln!(
                svg,
                "<g class=\"port\"><rect x=\"20\" y=\"{py}\" width=\"{PORT_W}\" height=\"28\" rx=\"14\"/>\
                 <text x=\"32\" y=\"{}\">{}</text></g>\
                 <path class=\"hop\" d=\"M{},{} L{x},{}\" marker-end=\"url(#arrow)\"/>\
                 <text class=\"small\" x=\"{}\" y=\"{}\">{}</text>",
                py + 19,
                esc(&host),
                20 + PORT_W,
                py + 14,
                y + 22,
                20 + PORT_W + 8,
                py + 10,
                esc(&published.container_port)
            );
        }
    }
    // The containers.
    for (c, container) in topology.containers.iter().enumerate() {
        let (x, y) = place[c];
        let fault = container.at_fault();
        let state = match &container.health {
            Some(health) => format!("{} ({health})", container.state),
            None => container.state.clone(),
        };
        let networks: Vec<&str> = container.networks.iter().map(String::as_str).collect();
        let why = if fault { container.faults.join("; ") } else { String::new() };
        let _ = writeln!(
            svg,
            "<g class=\"container{}\" data-name=\"{}\" data-state=\"{}\"><title>{}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\"/>\
             <text class=\"name\" x=\"{tx}\" y=\"{}\">{}{}</text>\
             <text class=\"small\" x=\"{tx}\" y=\"{}\">{} &middot; {}</text>\
             <text class=\"small state\" x=\"{tx}\" y=\"{}\">{}</text>\
             <text class=\"small\" x=\"{tx}\" y=\"{}\">net: {}</text></g>",
            if fault { " fault" } else { "" },
            esc(&container.name),
            if fault { "fault" } else { "ok" },
            esc(&format!(
                "{} ({}): {}{}",
                container.name,
                image_name(&container.image),
                state,
                if fault { format!(" - {why}") } else { String::new() }
            )),
            y + 22,
            if fault { "\u{2717} " } else { "" },
            esc(&ellipsis(&container.name, 26)),
            y + 42,
            esc(&container.role),
            esc(&ellipsis(&image_name(&container.image), 22)),
            y + 60,
            esc(&ellipsis(&if fault { why } else { state }, 34)),
            y + 78,
            esc(&ellipsis(&networks.join(", "), 30)),
            tx = x + 10,
        );
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

/// The same, as a table: every detail the picture has no room for.
fn container_table(topology: &Topology) -> String {
    let mut out = String::from(
        "<table class=\"containers\"><thead><tr><th>container</th><th>role</th><th>image</th><th>state</th>\
         <th>networks</th><th>published</th><th>mounts</th></tr></thead><tbody>\n",
    );
    for c in &topology.containers {
        let state = match &c.health {
            Some(h) => format!("{} ({h})", c.state),
            None => c.state.clone(),
        };
        let state = if c.at_fault() { format!("{state} - {}", c.faults.join("; ")) } else { state };
        let published: Vec<String> = c
            .published
            .iter()
            .map(|p| format!("{}:{} &rarr; {}", esc(&p.host_ip), esc(&p.host_port), esc(&p.container_port)))
            .collect();
        let mounts: Vec<String> =
            c.mounts.iter().map(|m| format!("{} {} &rarr; {}", esc(&m.kind), esc(&m.source), esc(&m.target))).collect();
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if c.at_fault() { "fault" } else { "ok" },
            esc(&c.name),
            esc(&c.role),
            esc(&image_name(&c.image)),
            esc(&state),
            esc(&c.networks.join(", ")),
            published.join("<br>"),
            mounts.join("<br>")
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

/// An image as the student named it: a build of the sandbox run is tagged in the run's own
/// namespace (`clabs-run-<id>/portfolio:0.1.0`), which says nothing to them.
fn image_name(image: &str) -> String {
    match image.strip_prefix("clabs-run-").and_then(|rest| rest.split_once('/')) {
        Some((_, name)) => format!("{name} (built)"),
        None => image.to_string(),
    }
}

fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}\u{2026}")
}

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#1d1d1f;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h2 .title{font-weight:normal;color:#444}h2 .points{float:right;font-variant-numeric:tabular-nums}
.who,.note{color:#555;font-size:13px}.score.full strong{color:#1b5e20}.score.short strong{color:#8e1b1b}
.bar{height:8px;background:#eceff1;border-radius:4px;overflow:hidden}.bar div{height:100%;background:#2e7d32}
.error{background:#fff3e0;border-left:4px solid #ef6c00;padding:8px 12px}
table{border-collapse:collapse;width:100%}td,th{padding:6px 8px;border-bottom:1px solid #eee;vertical-align:top;text-align:left}
.checks .mark{font-weight:bold;width:48px}.checks .pts{width:48px;font-variant-numeric:tabular-nums}.checks .id{width:260px}
tr.passed .mark{color:#2e7d32}tr.failed .mark{color:#b71c1c}tr.skipped .mark{color:#8d6e00}
dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:6px 0 0;font-size:14px}dt{color:#666}dd{margin:0;white-space:pre-wrap;word-break:break-word}
dd.hint{color:#5d4037}.reason{color:#666;margin:4px 0 0;font-size:14px}
.containers{font-size:13px;margin-top:10px}.containers tr.fault td:first-child{border-left:4px solid #c62828}
svg.topology{display:block;max-width:100%;height:auto;background:#fafafa;border:1px solid #e0e0e0;border-radius:6px}
svg text{font:13px system-ui,sans-serif;fill:#222}svg text.small{font-size:11px;fill:#555}svg text.name{font-weight:600}
svg text.heading{font-size:12px;fill:#777;text-transform:uppercase;letter-spacing:.05em}
svg .container rect{fill:#e8f5e9;stroke:#43a047;stroke-width:2}
svg .container.fault rect{fill:#fdecea;stroke:#c62828;stroke-width:4}svg .container.fault text.state{fill:#b71c1c}
svg .port rect{fill:#e3f2fd;stroke:#1565c0;stroke-width:1.5}svg .volume rect{fill:#fff8e1;stroke:#f9a825;stroke-width:1.5}
svg .hop{fill:none;stroke:#1565c0;stroke-width:2}svg .mount{fill:none;stroke:#f9a825;stroke-width:1.5;stroke-dasharray:5 4}
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Container, Mount, Published};

    fn sample_topology() -> Topology {
        let container = |name: &str, role: &str, tier, networks: &[&str]| Container {
            id: String::new(),
            name: name.into(),
            image: format!("{role}:1"),
            role: role.into(),
            tier,
            state: "running".into(),
            health: Some("healthy".into()),
            networks: networks.iter().map(|n| n.to_string()).collect(),
            published: Vec::new(),
            mounts: Vec::new(),
            faults: Vec::new(),
        };
        let mut proxy = container("lab3-proxy-1", "front door", Tier::FrontDoor, &["front"]);
        proxy.published.push(Published {
            host_ip: "127.0.0.1".into(),
            host_port: "9443".into(),
            container_port: "443/tcp".into(),
        });
        let mut db = container("lab3-db-1", "database", Tier::Data, &["back"]);
        db.health = Some("unhealthy".into());
        db.faults.push("unhealthy".into());
        db.mounts.push(Mount { kind: "volume".into(), source: "lab3_db".into(), target: "/var/lib/mysql".into() });
        Topology { containers: vec![proxy, container("lab3-wp-1", "wordpress", Tier::App, &["front", "back"]), db] }
    }

    #[test]
    fn the_page_escapes_what_it_shows_and_marks_the_container_at_fault() {
        let mut report = crate::report::sample();
        report.topology = Some(sample_topology());
        let page = render(&report);
        assert!(page.contains("&amp; &lt;weird&gt;"), "text is escaped");
        assert!(!page.contains("<weird>"));
        assert!(page.contains("<g class=\"container fault\" data-name=\"lab3-db-1\" data-state=\"fault\">"));
        assert!(page.contains("<g class=\"container\" data-name=\"lab3-wp-1\" data-state=\"ok\">"));
        assert_eq!(page.matches("class=\"hop\"").count(), 3, "port to proxy, proxy to wordpress, wordpress to db");
        assert!(page.contains("data-name=\"lab3_db\""), "the volume is drawn");
        assert!(page.contains("hint for site-content-type"));
        assert!(!page.contains("GET http://127.0.0.1:8080/../../etc/passwd"), "a hidden check's details stay hidden");
        assert!(!page.contains("<script"), "self-contained, no script");
        assert!(!page.contains("src=") && !page.contains("<link"), "nothing loaded from elsewhere");
    }

    #[test]
    fn without_a_running_system_there_is_no_picture() {
        let page = render(&crate::report::sample());
        assert!(!page.contains("<svg"));
        assert!(page.contains("id=\"check-site-content-type\""));
    }
}
