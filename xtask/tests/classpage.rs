//! The class page (`class.html`), as a browser draws it: headless Chromium renders a class of
//! ten, and the test reads the picture - the histogram's bars as tall as the score counts, each
//! check's pass and fail bars as wide as its pass rate, the late and not-graded marks where
//! (and only where) a student has them. Integration: `cargo xtask test` installs Chromium.

mod common;

use common::*;
use std::collections::BTreeMap;
use xtask::grade::gradebook::{Row, StepColumns};

fn row(student: &str, score: Option<u32>, checks: &[(&str, u32)], late: Option<usize>, status: &str) -> Row {
    Row {
        student: student.into(),
        submission: format!("class/{student}"),
        status: status.into(),
        score,
        max_score: score.map(|_| 10),
        steps: BTreeMap::new(),
        checks: checks.iter().map(|(id, points)| (id.to_string(), *points)).collect(),
        commit: String::new(),
        late,
        note: if status == "graded" { String::new() } else { "not found, or no access".into() },
    }
}

fn count(pixels: &[[u8; 3]], hex: &str) -> usize {
    let colour = rgb(hex);
    pixels.iter().filter(|p| **p == colour).count()
}

#[test]
fn the_class_page_draws_the_distribution_the_pass_rates_and_the_marks() {
    if !integration("the_class_page_draws_the_distribution_the_pass_rates_and_the_marks") {
        return;
    }
    let steps: Vec<StepColumns> = vec![(
        "static-site".into(),
        vec![("site-answers".into(), "The site answers".into(), 6), ("site-title".into(), "A title".into(), 4)],
    )];
    // Scores out of 10: 10 x4 (the 100% bin), 6 x3 (60%), 4 x2 (40%); one not collected.
    let mut rows = Vec::new();
    for (i, score) in [10, 10, 10, 10, 6, 6, 6, 4, 4].iter().enumerate() {
        let checks: &[(&str, u32)] = match score {
            10 => &[("site-answers", 6), ("site-title", 4)],
            6 => &[("site-answers", 6), ("site-title", 0)],
            _ => &[("site-answers", 0), ("site-title", 4)],
        };
        let late = (i == 0).then_some(2);
        rows.push(row(&format!("s{i}"), Some(*score), checks, late, "graded"));
    }
    rows.push(row("zed", None, &[], None, "unfetched"));
    let page = xtask::grade::class::class_html("lab1", &steps, &rows, &BTreeMap::new(), &[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("class.html");
    std::fs::write(&html, &page).unwrap();
    let shots = workspace().join("target/clabs/screenshots");
    let pixels = screenshot(&html, 1200, 1600, &shots.join("class.png"));

    // The histogram: bins of 4, 3 and 2 students, 40 px wide, the tallest 160 px high.
    let blue = count(&pixels, "#1f6feb");
    let expected = 40 * (160 + 3 * 160 / 4 + 2 * 160 / 4);
    assert!(blue.abs_diff(expected) <= expected / 20, "histogram bars: {blue} px, expected about {expected}");
    // Pass rates: site-answers 7/9, site-title 6/9; each bar 300 px wide, 14 px high.
    let (green, red) = (count(&pixels, "#1a7f37"), count(&pixels, "#cf222e"));
    let (pass, fail) = ((300.0f64 * 7.0 / 9.0).round() + (300.0f64 * 6.0 / 9.0).round(), 0.0);
    let pass = pass as usize * 14;
    let fail = (600 - pass / 14) * 14 + fail as usize;
    assert!(green.abs_diff(pass) <= pass / 20, "pass bars: {green} px, expected about {pass}");
    assert!(red.abs_diff(fail) <= fail / 20, "fail bars: {red} px, expected about {fail}");
    // The marks: one late student, one not graded.
    assert!(count(&pixels, "#9a6700") > 50, "the late mark is drawn");
    assert!(count(&pixels, "#8250df") > 50, "the not-graded mark is drawn");

    // Known-bad: with nobody late and everyone graded, neither mark is drawn.
    for r in &mut rows {
        r.late = None;
    }
    rows.pop();
    std::fs::write(&html, xtask::grade::class::class_html("lab1", &steps, &rows, &BTreeMap::new(), &[], &[])).unwrap();
    let pixels = screenshot(&html, 1200, 1600, &shots.join("class-unmarked.png"));
    assert_eq!((count(&pixels, "#9a6700"), count(&pixels, "#8250df")), (0, 0), "no marks where none is due");
}
