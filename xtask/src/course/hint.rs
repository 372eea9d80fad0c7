//! `cargo xtask hint <check-id>`: a check's hint, and what the step's chapter of the course book
//! (its handout) says about it,
//! without grading anything (what a student reaches for when a report names a failing check).

use anyhow::bail;
use grading::Vars;
use std::path::Path;

/// The text `hint` prints for `id`, or an error naming the closest checks.
pub fn hint(course: &Path, id: &str) -> anyhow::Result<String> {
    let curriculum = grading::Curriculum::load(course)?;
    let mut ids = Vec::new();
    for lab in &curriculum.labs {
        let mut vars = Vars::new();
        for (name, value) in &lab.vars {
            vars.set(name, value);
        }
        for step in &lab.steps {
            let rubric = curriculum.rubric(lab, step)?;
            for check in &rubric.checks {
                if check.id != id {
                    ids.push(check.id.clone());
                    continue;
                }
                let handout = step.dir.join("README.md");
                let mut text = format!(
                    "{id}: {}\n{} / {} ({}), {} {}\n\nhint: {}\n",
                    vars.expand(&check.title),
                    lab.id,
                    step.id,
                    step.title,
                    check.points,
                    if check.points == 1 { "point" } else { "points" },
                    vars.expand(&check.hint)
                );
                if !check.requires.is_empty() {
                    text.push_str(&format!("runs once these pass: {}\n", check.requires.join(", ")));
                }
                let chapter = std::fs::read_to_string(course.join(&handout)).unwrap_or_default();
                let parts = about(&chapter, id);
                if !parts.is_empty() {
                    text.push_str(&format!("\nthe course book, {} / {} ({}):\n", lab.id, step.id, handout.display()));
                    for part in parts {
                        text.push_str(&format!("  {}\n", part.replace('\n', "\n    ")));
                    }
                }
                let page = format!("{}/{}.html#{id}", lab.id, step.id);
                text.push_str(&format!(
                    "\nin the book: {} (`cargo xtask book --serve`, then http://127.0.0.1:4000/{page})\n",
                    crate::course::book::default_out(course).join(&page).display()
                ));
                text.push_str(&format!(
                    "\ncheck it: cargo xtask check {} --step {} (hints name the TODO(tag) in your starter files)\n",
                    lab.id, step.id
                ));
                return Ok(text);
            }
        }
    }
    // The nearest ids by edit distance (a typo), else those that hold what was asked.
    ids.sort();
    ids.dedup();
    let mut close: Vec<(usize, &String)> = ids
        .iter()
        .map(|known| (distance(known, id), known))
        .filter(|(d, known)| *d <= (known.len() / 4).max(2))
        .collect();
    close.sort();
    if close.is_empty() {
        close = ids.iter().filter(|known| !id.is_empty() && known.contains(id)).map(|k| (0, k)).collect();
    }
    if close.is_empty() {
        bail!("no check is named '{id}': a report names each check (FAIL <id>); `cargo xtask check <lab>` lists them");
    }
    bail!(
        "no check is named '{id}'; did you mean {}?",
        close.iter().take(3).map(|(_, c)| format!("'{c}'")).collect::<Vec<_>>().join(", ")
    )
}

/// What a chapter says about check `id` beside its entry in the checks list (which the hint
/// repeats): each paragraph or list item that names it, in order.
fn about(chapter: &str, id: &str) -> Vec<String> {
    let outside = match (chapter.find(crate::course::book::BEGIN), chapter.find(crate::course::book::END)) {
        (Some(begin), Some(end)) if begin < end => {
            format!("{}{}", &chapter[..begin], &chapter[end + crate::course::book::END.len()..])
        }
        _ => chapter.to_string(),
    };
    let named = format!("`{id}`");
    let mut parts = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let flush = |current: &mut Vec<&str>, parts: &mut Vec<String>| {
        let part = current.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        if part.contains(&named) {
            parts.push(part);
        }
        current.clear();
    };
    for line in outside.lines() {
        let trimmed = line.trim_start();
        let starts_item = trimmed.starts_with("- ")
            || trimmed.starts_with("| ")
            || trimmed.split_once(". ").is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if trimmed.is_empty() || trimmed.starts_with('#') || starts_item {
            flush(&mut current, &mut parts);
        }
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            current.push(line);
        }
    }
    flush(&mut current, &mut parts);
    parts
}

/// Levenshtein distance (characters inserted, removed or changed).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(here + 1);
            previous = here;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hint_and_the_handouts_words() {
        let root = crate::workspace_root();
        let text = super::hint(&root, "site-own-404").unwrap();
        assert!(text.starts_with("site-own-404: "), "{text}");
        assert!(text.contains("lab1 / static-site"), "{text}");
        assert!(text.contains("hint: TODO(404)"), "{text}");
        assert!(text.contains("the course book, lab1 / static-site (labs/static-site/README.md):"), "{text}");
        // The chapter's own words on it (its troubleshooting), not the checks list again.
        assert!(text.contains("`site-own-404` fails: nginx's built-in page is served"), "{text}");
        assert_eq!(text.matches("TODO(404)").count(), 1, "the hint once: {text}");
        assert!(text.contains("lab1/static-site.html#site-own-404"), "{text}");
        assert!(text.contains("cargo xtask check lab1 --step static-site"), "{text}");
        let unknown = super::hint(&root, "site-own-40").unwrap_err().to_string();
        assert!(unknown.contains("did you mean 'site-own-404'?"), "{unknown}");
        let part = super::hint(&root, "websocket").unwrap_err().to_string();
        assert!(part.contains("did you mean 'proxy-websocket'?"), "{part}");
        let nothing = super::hint(&root, "zzz").unwrap_err().to_string();
        assert!(nothing.contains("no check is named 'zzz'"), "{nothing}");
    }
}
