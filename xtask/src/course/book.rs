//! `cargo xtask book`: the course book (mdBook), built from the handouts themselves.
//!
//! Each step's chapter *is* its handout (`labs/<step>/README.md`): the book is staged in
//! `target/book-src` - the pages of `docs/book/`, a page per lab written from `labs.toml`, each
//! step's handout - and built into `target/book`. So the handout a student opens in the
//! repository and the book's chapter never differ.
//!
//! Every handout is held to the same shape, and the build fails when one is not:
//! - the sections [`SECTIONS`], in that order;
//! - a `## Checks` list written from the step's rubric (id, points, what it wants, its hint),
//!   between [`BEGIN`] and [`END`]: `cargo xtask book` rewrites it, `--check` fails when it is out of date;
//! - no word of the project's own workings (its issues, tests or seed documents; [`FORBIDDEN`]).
//!
//! The built book's links are checked: every relative link must reach a page of the book and every
//! `#fragment` an id on that page.

use anyhow::{bail, Context};
use grading::{Curriculum, Vars};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The sections every step's chapter has, in order (second-level headings, by their start).
pub const SECTIONS: [&str; 5] = ["What you will build", "Tasks", "Checks", "Troubleshooting", "Going further"];

/// Where the checks list starts and ends in a handout.
pub const BEGIN: &str =
    "<!-- checks: written from rubric.toml by `cargo xtask book`; change the rubric, not this list -->";
pub const END: &str = "<!-- checks: end -->";

/// What a handout must not say: it is for students, not about how this project is made.
pub const FORBIDDEN: [(&str, &str); 4] = [
    (r"(?i)\b(the|this|an|our|project's) issues?\b|issue notes", "the project's issues"),
    (r"xtask/tests|/tests/|\btests?/[a-z_]+\.rs", "the project's test files"),
    (r"(?i)\bseed (course|docs?|documents?)\b|\bseeds/", "the seed documents and the course's history"),
    (r"(?i)arrives with the rest of", "work not done yet"),
];

/// One step's chapter.
#[derive(Debug, Clone)]
pub struct Chapter {
    /// The handout, relative to the course.
    pub handout: PathBuf,
    /// The chapter's page in the book, relative to its source folder: `lab1/static-site.md`.
    pub page: String,
}

pub fn chapters(curriculum: &Curriculum) -> Vec<Chapter> {
    curriculum
        .labs
        .iter()
        .flat_map(|lab| {
            lab.steps
                .iter()
                .map(|step| Chapter { handout: step.dir.join("README.md"), page: format!("{}/{}.md", lab.id, step.id) })
        })
        .collect()
}

/// The checks list of `step` of `lab`: each check's id (a heading, so a link can name it), points,
/// what it wants and the hint a failure prints, with the lab's default variables filled in.
pub fn checks_list(curriculum: &Curriculum, lab: &grading::Lab, step: &grading::Step) -> anyhow::Result<String> {
    let rubric = curriculum.rubric(lab, step)?;
    let mut vars = Vars::new();
    for (name, value) in &lab.vars {
        vars.set(name, value);
    }
    let mut text = format!("{BEGIN}\n");
    for check in &rubric.checks {
        let points = if check.points == 1 { "1 point".to_string() } else { format!("{} points", check.points) };
        text.push_str(&format!("\n#### `{}`\n\n**{points}.** {}", check.id, vars.expand(&check.title)));
        if !check.requires.is_empty() {
            let requires: Vec<String> = check.requires.iter().map(|r| format!("[`{r}`](#{r})")).collect();
            text.push_str(&format!(" (graded once {} passed)", requires.join(" and ")));
        }
        text.push('\n');
        if check.visibility.shows_details() {
            text.push_str(&format!("\nIf it fails: {}\n", markdown_text(&vars.expand(&check.hint))));
        } else {
            text.push_str(&format!("\nIts details are shown {}.\n", check.visibility.as_str().replace('_', " ")));
        }
    }
    text.push_str(&format!("\n{END}"));
    Ok(text)
}

/// A hint as Markdown text: what would read as markup (`<title>`, `*`) shown as it is.
fn markdown_text(hint: &str) -> String {
    // Inside backticks the hint's own code stays code; outside, angle brackets are escaped.
    let mut out = String::new();
    for (i, part) in hint.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(part);
        } else {
            out.push_str(&part.replace('<', "&lt;").replace('>', "&gt;").replace('*', "\\*").replace('_', "\\_"));
        }
    }
    out
}

/// What is wrong with a handout's shape and words (empty: nothing).
pub fn problems(handout: &str, expected_checks: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let headings: Vec<&str> = handout.lines().filter_map(|l| l.strip_prefix("## ")).map(str::trim).collect();
    let mut at = 0;
    for section in SECTIONS {
        match headings[at..].iter().position(|h| h.starts_with(section)) {
            Some(found) => at += found + 1,
            None => problems.push(format!("has no `## {section}` section (after the ones before it: {SECTIONS:?})")),
        }
    }
    match (handout.find(BEGIN), handout.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            if handout[begin..end + END.len()] != *expected_checks {
                problems.push("its checks list is not the rubric's: run `cargo xtask book` to write it".to_string());
            }
        }
        _ => problems.push(format!("has no checks list (a line `{BEGIN}` and a line `{END}` under `## Checks`)")),
    }
    problems.extend(forbidden_words(handout));
    problems
}

/// `line N mentions WHAT: LINE` for each line of `text` that says what [`FORBIDDEN`] forbids.
fn forbidden_words(text: &str) -> Vec<String> {
    static PATTERNS: std::sync::OnceLock<Vec<(regex::Regex, &str)>> = std::sync::OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        FORBIDDEN.iter().map(|(pattern, what)| (regex::Regex::new(pattern).expect("a valid pattern"), *what)).collect()
    });
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for (pattern, what) in patterns {
            if pattern.is_match(line) {
                found.push(format!("line {} mentions {what}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

/// Writes each handout's checks list from its rubric (or, with `check_only`, lists the handouts
/// whose list is out of date), then checks every handout's shape. Returns the handouts rewritten.
pub fn refresh_handouts(course: &Path, check_only: bool) -> anyhow::Result<Vec<PathBuf>> {
    let curriculum = Curriculum::load(course)?;
    let mut rewritten = Vec::new();
    let mut wrong = Vec::new();
    for lab in &curriculum.labs {
        for step in &lab.steps {
            let path = course.join(&step.dir).join("README.md");
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let list = checks_list(&curriculum, lab, step)?;
            let updated = match (text.find(BEGIN), text.find(END)) {
                (Some(begin), Some(end)) if begin < end => {
                    format!("{}{list}{}", &text[..begin], &text[end + END.len()..])
                }
                _ => text.clone(),
            };
            if updated != text && !check_only {
                std::fs::write(&path, &updated).with_context(|| format!("cannot write {}", path.display()))?;
                rewritten.push(path.clone());
            }
            let shown = if check_only { &text } else { &updated };
            for problem in problems(shown, &list) {
                wrong.push(format!("{}: {problem}", step.dir.join("README.md").display()));
            }
        }
    }
    // The book's other pages are for students too.
    let pages = course.join("docs/book");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&pages)
        .with_context(|| format!("cannot read {}", pages.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    names.sort();
    for page in names {
        let text = std::fs::read_to_string(&page).with_context(|| format!("cannot read {}", page.display()))?;
        let shown = page.strip_prefix(course).unwrap_or(&page).display().to_string();
        wrong.extend(forbidden_words(&text).into_iter().map(|problem| format!("{shown}: {problem}")));
    }
    if !wrong.is_empty() {
        bail!("the handouts are not ready for the book:\n  {}", wrong.join("\n  "));
    }
    Ok(rewritten)
}

/// Stages the book's sources in `stage` (emptied first): `book.toml`, `src/SUMMARY.md`, the pages
/// of `docs/book/`, a page per lab, and each step's handout as its chapter.
pub fn stage(course: &Path, stage: &Path, out: &Path) -> anyhow::Result<()> {
    let curriculum = Curriculum::load(course)?;
    if stage.exists() {
        std::fs::remove_dir_all(stage).with_context(|| format!("cannot empty {}", stage.display()))?;
    }
    let src = stage.join("src");
    std::fs::create_dir_all(&src).with_context(|| format!("cannot create {}", src.display()))?;
    let pages = course.join("docs/book");
    let book_toml = std::fs::read_to_string(pages.join("book.toml"))
        .with_context(|| format!("cannot read {}", pages.join("book.toml").display()))?;
    let book_toml =
        format!("{book_toml}\n[build]\nbuild-dir = {:?}\ncreate-missing = false\n", out.display().to_string());
    std::fs::write(stage.join("book.toml"), book_toml)?;
    for entry in std::fs::read_dir(&pages).with_context(|| format!("cannot read {}", pages.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md") {
            std::fs::copy(&path, src.join(path.file_name().expect("a file name")))?;
        }
    }
    let chapters = chapters(&curriculum);
    let by_dir: BTreeMap<PathBuf, &Chapter> =
        chapters.iter().map(|c| (c.handout.parent().expect("a step folder").to_path_buf(), c)).collect();
    let mut summary = String::from(
        "# Summary\n\n[Introduction](introduction.md)\n\n- [Before you start](setup.md)\n\n# The labs\n\n",
    );
    for (number, lab) in curriculum.labs.iter().enumerate() {
        std::fs::create_dir_all(src.join(&lab.id))?;
        let mut index = format!("# Lab {}: {}\n\n{}\n\nIts steps, in order:\n\n", number + 1, lab.title, lab.summary);
        summary.push_str(&format!("- [Lab {}: {}]({}/index.md)\n", number + 1, lab.title, lab.id));
        for (n, step) in lab.steps.iter().enumerate() {
            index.push_str(&format!("{}. [{}]({}.md)\n", n + 1, step.title, step.id));
            summary.push_str(&format!("  - [{}]({}/{}.md)\n", step.title, lab.id, step.id));
            let chapter = by_dir[&step.dir];
            let handout = course.join(&chapter.handout);
            let text =
                std::fs::read_to_string(&handout).with_context(|| format!("cannot read {}", handout.display()))?;
            std::fs::write(src.join(&chapter.page), relink(&text, &step.dir, &by_dir))?;
        }
        index.push_str(&format!(
            "\nGrade it as you go: `cargo xtask check {id}` (one step: `--step STEP`), or let \
             `cargo xtask watch {id}` grade it each time you save.\n",
            id = lab.id
        ));
        std::fs::write(src.join(&lab.id).join("index.md"), index)?;
    }
    summary.push_str("\n# For instructors\n\n- [Running the course](instructors.md)\n");
    std::fs::write(src.join("SUMMARY.md"), summary)?;
    Ok(())
}

/// A handout's links to other steps' handouts (`../cache/README.md#x`), as links between chapters.
fn relink(text: &str, dir: &Path, by_dir: &BTreeMap<PathBuf, &Chapter>) -> String {
    let link = regex::Regex::new(r"\]\(([^)#\s]*README\.md)(#[^)\s]*)?\)").expect("a valid pattern");
    link.replace_all(text, |caps: &regex::Captures<'_>| {
        let target = normalize(&dir.join(&caps[1]));
        match target.parent().and_then(|d| by_dir.get(d)) {
            Some(chapter) => format!("](../{}{})", chapter.page, caps.get(2).map_or("", |m| m.as_str())),
            None => caps[0].to_string(),
        }
    })
    .into_owned()
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Builds the book: the handouts checked (and, unless `check_only`, their checks lists written),
/// staged, built into `out` and link-checked. Returns the pages built.
pub fn build(course: &Path, out: &Path, check_only: bool) -> anyhow::Result<usize> {
    let rewritten = refresh_handouts(course, check_only)?;
    for path in rewritten {
        eprintln!("wrote the checks list of {}", path.display());
    }
    let staged = out.with_file_name(format!(
        "{}-src",
        out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "book".into())
    ));
    stage(course, &staged, out)?;
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("cannot empty {}", out.display()))?;
    }
    // mdBook builds it, in a crate of its own (`xtask/course-book`): `cargo xtask` compiles
    // without it, and only building the book compiles mdBook.
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(crate::workspace_root())
        .args(["run", "--quiet", "--package", "course-book", "--"])
        .arg(&staged)
        .status()
        .context("cannot run cargo to build the book")?;
    if !status.success() {
        bail!("the book does not build (mdBook's messages are above)");
    }
    let (pages, broken) = check_links(out)?;
    if !broken.is_empty() {
        bail!("the book has {} broken links:\n  {}", broken.len(), broken.join("\n  "));
    }
    Ok(pages)
}

/// Every relative link and fragment of the built book's pages: (pages checked, broken links).
pub fn check_links(out: &Path) -> anyhow::Result<(usize, Vec<String>)> {
    // Attributes of tags only: a code block's text (`&lt;a href="/"&gt;`) is not a link.
    let href = regex::Regex::new(r#"<[a-zA-Z]+\b[^<>]*?\s(?:href|src)="([^"]*)""#).expect("a valid pattern");
    let id = regex::Regex::new(r#"\sid="([^"]*)""#).expect("a valid pattern");
    let mut pages: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                pages.insert(path.clone(), std::fs::read_to_string(&path)?);
            }
        }
    }
    let ids: BTreeMap<&PathBuf, BTreeSet<String>> = pages
        .iter()
        .map(|(path, html)| (path, id.captures_iter(html).map(|c| html_unescape(&c[1])).collect()))
        .collect();
    let mut broken = Vec::new();
    // 404.html is served from the site's root whatever the address (mdBook gives it a <base>).
    let checked: Vec<&PathBuf> = pages.keys().filter(|p| p.file_name().is_none_or(|n| n != "404.html")).collect();
    for page in &checked {
        let html = &pages[*page];
        for caps in href.captures_iter(html) {
            let link = html_unescape(&caps[1]);
            if link.is_empty()
                || link.contains("://")
                || link.starts_with("mailto:")
                || link.starts_with("javascript:")
                || link.starts_with("data:")
            {
                continue;
            }
            let (path, fragment) = match link.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (link.as_str(), None),
            };
            let path = path.split('?').next().unwrap_or_default();
            let target = if path.is_empty() {
                (*page).clone()
            } else {
                let joined = normalize(&page.parent().expect("a page's folder").join(path));
                if path.ends_with('/') || joined.is_dir() {
                    joined.join("index.html")
                } else {
                    joined
                }
            };
            let shown = format!("{}: {link}", page.strip_prefix(out).unwrap_or(page).display());
            if !target.exists() {
                broken.push(format!("{shown} (no such file)"));
                continue;
            }
            if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
                let known = ids.get(&target).is_some_and(|ids| ids.contains(fragment));
                if !known && target.extension().is_some_and(|e| e == "html") {
                    broken.push(format!("{shown} (no id \"{fragment}\" there)"));
                }
            }
        }
    }
    Ok((checked.len(), broken))
}

fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Serves the built book on `address` until Ctrl-C (with the course's own static server).
pub async fn serve(out: &Path, address: std::net::SocketAddr) -> anyhow::Result<()> {
    let site =
        static_site::Site::open_revalidating(out, std::time::Duration::ZERO).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = static_site::bind(address).map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("the course book: http://{address}/ (Ctrl-C stops)");
    static_site::serve(listener, std::sync::Arc::new(site), static_site::shutdown_signal()).await;
    Ok(())
}

/// Where the book is built: `target/book` of the workspace (or of `CARGO_TARGET_DIR`).
pub fn default_out(course: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| course.join("target")).join("book")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_builds_from_the_handouts_with_every_section_and_no_broken_link() {
        let root = crate::workspace_root();
        let out = tempfile::tempdir().unwrap();
        let built = out.path().join("book");
        let pages = build(&root, &built, true).unwrap();
        let curriculum = Curriculum::load(&root).unwrap();
        let chapters = chapters(&curriculum);
        assert!(pages > chapters.len(), "{pages} pages");
        for chapter in &chapters {
            let page = built.join(chapter.page.replace(".md", ".html"));
            let html = std::fs::read_to_string(&page).unwrap_or_else(|_| panic!("no page {}", page.display()));
            for section in SECTIONS {
                assert!(html.contains(section), "{} has no {section}", page.display());
            }
        }
        let hint = std::fs::read_to_string(built.join("lab1/static-site.html")).unwrap();
        assert!(hint.contains("id=\"site-own-404\""), "a check is a heading a link can name");
        assert!(built.join("instructors.html").is_file());
    }

    #[tokio::test]
    async fn the_built_book_is_served() {
        let root = crate::workspace_root();
        let out = tempfile::tempdir().unwrap();
        let built = out.path().join("book");
        build(&root, &built, true).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let server = tokio::spawn({
            let built = built.clone();
            async move { serve(&built, address).await }
        });
        let mut page = String::new();
        for _ in 0..50 {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            if let Ok(mut stream) = tokio::net::TcpStream::connect(address).await {
                let request = "GET /lab1/static-site.html HTTP/1.1\r\nHost: book\r\nConnection: close\r\n\r\n";
                stream.write_all(request.as_bytes()).await.unwrap();
                stream.read_to_string(&mut page).await.unwrap();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        server.abort();
        assert!(page.starts_with("HTTP/1.1 200"), "{}", &page[..page.len().min(300)]);
        assert!(page.contains("Troubleshooting"));
    }

    #[test]
    fn a_handout_out_of_shape_or_about_the_project_is_refused() {
        let root = crate::workspace_root();
        let curriculum = Curriculum::load(&root).unwrap();
        let lab = curriculum.lab("lab1").unwrap();
        let step = &lab.steps[0];
        let list = checks_list(&curriculum, lab, step).unwrap();
        let good = std::fs::read_to_string(root.join(&step.dir).join("README.md")).unwrap();
        assert_eq!(problems(&good, &list), Vec::<String>::new());
        let no_troubleshooting = good.replace("## Troubleshooting", "## Trouble");
        assert!(problems(&no_troubleshooting, &list)[0].contains("`## Troubleshooting`"));
        let stale = good.replace("**1 point.**", "**2 points.**");
        assert!(problems(&stale, &list).iter().any(|p| p.contains("not the rubric's")));
        let leaky = format!("{good}\nSee xtask/tests/lab1.rs and the issue notes.\n");
        let found = problems(&leaky, &list);
        assert!(found.iter().any(|p| p.contains("test files")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("issues")), "{found:?}");
    }

    #[test]
    fn a_broken_link_or_fragment_is_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.html"), r##"<h1 id="top">A</h1><pre>&lt;a href="nowhere.html"&gt;</pre><a href="b.html#there">b</a><a href="b.html#gone">x</a><a href="c.html">c</a><a href="https://example.com/">e</a><a href="#top">t</a>"##).unwrap();
        std::fs::write(dir.path().join("b.html"), r#"<h2 id="there">B</h2>"#).unwrap();
        let (pages, broken) = check_links(dir.path()).unwrap();
        assert_eq!(pages, 2);
        assert_eq!(broken, vec!["a.html: b.html#gone (no id \"gone\" there)", "a.html: c.html (no such file)"]);
    }

    #[test]
    fn links_between_handouts_become_links_between_chapters() {
        let chapter = Chapter { handout: "labs/cache/README.md".into(), page: "lab3/cache.md".into() };
        let by_dir: BTreeMap<PathBuf, &Chapter> = [(PathBuf::from("labs/cache"), &chapter)].into();
        let text = relink("see the [cache step](../cache/README.md#see-it-work).", Path::new("labs/compose"), &by_dir);
        assert_eq!(text, "see the [cache step](../lab3/cache.md#see-it-work).");
    }
}
