//! `cargo xtask hint <check-id>`: a check's hint, and what the step's handout says about it,
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
                let lines: Vec<String> = std::fs::read_to_string(course.join(&handout))
                    .unwrap_or_default()
                    .lines()
                    .filter(|line| line.contains(&format!("`{id}`")))
                    .map(|line| format!("  {}", line.trim()))
                    .collect();
                if !lines.is_empty() {
                    text.push_str(&format!("\nthe handout ({}):\n{}\n", handout.display(), lines.join("\n")));
                }
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
        assert!(text.contains("the handout (labs/static-site/README.md):"), "{text}");
        assert!(text.contains("cargo xtask check lab1 --step static-site"), "{text}");
        let unknown = super::hint(&root, "site-own-40").unwrap_err().to_string();
        assert!(unknown.contains("did you mean 'site-own-404'?"), "{unknown}");
        let part = super::hint(&root, "websocket").unwrap_err().to_string();
        assert!(part.contains("did you mean 'proxy-websocket'?"), "{part}");
        let nothing = super::hint(&root, "zzz").unwrap_err().to_string();
        assert!(nothing.contains("no check is named 'zzz'"), "{nothing}");
    }
}
