//! `cargo xtask check`: grade a lab (or one step) and write the report.
//!
//! Exit codes: 0 full marks, 1 some checks did not pass, 2 could not grade (the error says why).

use crate::course::{self, Selection};
use crate::services::{self, Lifetime, Services};
use anyhow::Context;
use grading::report::{gradescope, json, junit, tty};
use grading::{GradeConfig, Report};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Report formats `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable, coloured on a terminal.
    Tty,
    /// Container Labs JSON (format_version 1).
    Json,
    /// JUnit XML for CI dashboards.
    Junit,
    /// Gradescope results.json.
    Gradescope,
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub course: PathBuf,
    pub lab: String,
    pub step: Option<String>,
    pub submission: Option<PathBuf>,
    pub vars: Vec<String>,
    pub up: bool,
    /// With `up`: where images that are not the project's own come from.
    pub images: crate::images::ImageSource,
    pub format: Format,
    pub out: Option<PathBuf>,
}

pub async fn run(options: CheckOptions) -> anyhow::Result<ExitCode> {
    let selection = course::select(
        &options.course,
        &options.lab,
        options.step.as_deref(),
        &options.vars,
        options.submission.as_deref(),
    )?;
    let engine = engine_if_needed(&selection, options.up).await?;
    let report = if options.up {
        grade_up(&options.course, &selection, engine, options.images).await?
    } else {
        grade(&selection, None, engine.map(|e| e.docker)).await
    };
    write_report(&report, options.format, options.out.as_deref())?;
    Ok(if report.full_marks() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// An engine connection when some selected check looks at containers, or `--up` starts some
/// (else none is needed, and none is asked for).
async fn engine_if_needed(selection: &Selection, up: bool) -> anyhow::Result<Option<crate::engine::Engine>> {
    let checks_need = selection
        .steps
        .iter()
        .flat_map(|s| &s.rubric.checks)
        .any(|c| matches!(c.kind, grading::rubric::CheckKind::Container(_)));
    let up_needs = up
        && selection.lab().services_for(&selection.step_ids()).iter().any(|s| s.is_command() || !s.images.is_empty());
    if !checks_need && !up_needs {
        return Ok(None);
    }
    // `--up` builds what it needs, an engine included (on Debian as root); grading a running stack needs one already.
    let provision = if up_needs { crate::engine::Provision::IfMissing } else { crate::engine::Provision::Never };
    Ok(Some(crate::engine::ensure(provision).await?))
}

async fn grade(selection: &Selection, services: Option<Arc<Services>>, docker: Option<bollard::Docker>) -> Report {
    let config = GradeConfig {
        vars: selection.vars.clone(),
        submission: selection.submission.clone(),
        services: services.map(|s| s as Arc<dyn grading::ServiceControl>),
        docker,
    };
    let lab = selection.lab();
    grading::runner::grade(&lab.id, &lab.title, &selection.steps, &config).await
}

/// Starts the lab's services from the submission, grades, and stops them - whatever happens.
async fn grade_up(
    course: &std::path::Path,
    selection: &Selection,
    engine: Option<crate::engine::Engine>,
    images: crate::images::ImageSource,
) -> anyhow::Result<Report> {
    use tokio::signal::unix::{signal, SignalKind};
    // Listen for Ctrl-C and SIGTERM from here on, so an interrupted build also ends cleanly.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let state =
        tempfile::Builder::new().prefix("clabs-state-").tempdir().context("cannot create a scratch directory")?;
    let steps = selection.step_ids();
    let prepared = services::prepare(selection.lab(), &steps, &selection.submission, &selection.vars, state.path());
    let interrupted = |interrupt: &mut tokio::signal::unix::Signal| {
        // A pending Ctrl-C that arrived while a blocking build ran.
        futures_util::FutureExt::now_or_never(interrupt.recv()).is_some()
    };
    if interrupted(&mut interrupt) {
        anyhow::bail!("interrupted while building: nothing was started and nothing was graded");
    }
    let mut specs = prepared?;
    services::ensure_ports_free(&specs)?;
    if let Some(engine) = &engine {
        services::preflight(&engine.docker, &specs).await?;
        services::ensure_images(engine, course, &selection.submission, &mut specs, images).await?;
    }
    if interrupted(&mut interrupt) {
        anyhow::bail!("interrupted while building: nothing was started and nothing was graded");
    }
    let docker = engine.map(|e| e.docker);
    let work = async {
        let services = Arc::new(Services::start(specs, Lifetime::TiedToGrader, docker.clone()).await?);
        let report = grade(selection, Some(services.clone()), docker).await;
        services.stop_all().await;
        anyhow::Ok(report)
    };
    // Ctrl-C drops `work`, and with it the services (Drop stops them) and the scratch directory.
    tokio::select! {
        result = work => result,
        _ = interrupt.recv() => anyhow::bail!("interrupted: stopped everything --up had started; nothing was graded"),
        _ = terminate.recv() => anyhow::bail!("terminated: stopped everything --up had started; nothing was graded"),
    }
}

fn write_report(report: &Report, format: Format, out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let colour = out.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = match format {
        Format::Tty => tty::render(report, colour),
        Format::Json => serde_json::to_string_pretty(&json::to_json(report))? + "\n",
        Format::Junit => junit::render(report),
        Format::Gradescope => serde_json::to_string_pretty(&gradescope::to_json(report))? + "\n",
    };
    match out {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(path, text).with_context(|| format!("cannot write the report to {}", path.display()))?;
            eprintln!(
                "{}: {}/{} points; report written to {}",
                report.lab,
                report.score(),
                report.max_score(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
