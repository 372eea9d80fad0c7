//! The persistence check through the same service control `--up` uses: a fixture app that keeps
//! messages in memory fails `app-state-survives-restart`; the same app keeping them in a file passes.

mod common;

use common::*;
use grading::runner::{grade, StepRubric};
use grading::{Curriculum, GradeConfig, Vars};
use std::sync::Arc;
use xtask::stage::services::{Lifetime, ServiceSpec, Services};

async fn grade_app_step_with(fault: &str) -> grading::Report {
    let state = tempfile::tempdir().unwrap();
    let (site, app) = (free_port(), free_port());
    let spec = ServiceSpec {
        name: "app".into(),
        step: None,
        program: Some(bad_lab1()),
        args: vec![
            "--fault".into(),
            fault.into(),
            "--site-port".into(),
            site.to_string(),
            "--app-port".into(),
            app.to_string(),
            "--data".into(),
            state.path().join("messages").display().to_string(),
        ],
        command: None,
        images: vec![],
        env: Default::default(),
        ready: format!("127.0.0.1:{app}"),
        ports: vec![],
        log: state.path().join("app.log"),
    };
    let services = Arc::new(
        Services::start(vec![spec], Lifetime::TiedToGrader, None, xtask::engine::images::toolbox_tag())
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap(),
    );
    let curriculum = Curriculum::load(&workspace()).unwrap();
    let lab = curriculum.lab("lab1").unwrap();
    let step = lab.step("app-port").unwrap();
    let steps = vec![StepRubric {
        id: step.id.clone(),
        title: step.title.clone(),
        rubric: curriculum.rubric(lab, step).unwrap(),
    }];
    let mut vars = Vars::new();
    for (k, v) in &lab.vars {
        vars.set(k, v);
    }
    vars.set("site_port", site.to_string());
    vars.set("app_port", app.to_string());
    // The course's answer, its board configured for the lab's port (run on this test's).
    let submission = xtask::selection::solutions(&workspace(), "lab1").unwrap();
    std::fs::write(submission.path().join("labs/app-port/board.env"), "PORT=3000\nDATA_FILE=data/m.jsonl\n").unwrap();
    let config = GradeConfig {
        vars,
        submission: submission.path().to_path_buf(),
        services: Some(services.clone()),
        ..Default::default()
    };
    let report = grade("lab1", "Lab 1", &steps, &config).await;
    services.stop_all().await;
    assert!(!port_is_open(app) && !port_is_open(site), "stopped");
    report
}

fn failed(report: &grading::Report) -> Vec<&str> {
    report.checks().filter(|(_, c)| c.status == grading::Status::Failed).map(|(_, c)| c.id.as_str()).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn an_app_that_forgets_fails_only_the_restart_check() {
    if !integration("an_app_that_forgets_fails_only_the_restart_check") {
        return;
    }
    let report = grade_app_step_with("forgets").await;
    assert_eq!(failed(&report), vec!["app-state-survives-restart"]);
    let check = report.checks().find(|(_, c)| c.id == "app-state-survives-restart").unwrap().1;
    assert!(check.expected.as_deref().unwrap().starts_with("after restarting app:"), "{check:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_app_that_keeps_a_file_passes_the_restart_check() {
    if !integration("an_app_that_keeps_a_file_passes_the_restart_check") {
        return;
    }
    let report = grade_app_step_with("none").await;
    assert_eq!(failed(&report), Vec::<&str>::new());
    assert!(report.full_marks(), "{report:#?}");
}
