//! Resolving what the user named: the course (curriculum), a lab, its steps, variables, the submission.

use anyhow::{bail, Context};
use grading::runner::StepRubric;
use grading::{Curriculum, Lab, Vars};
use std::path::{Path, PathBuf};

/// A lab chosen on the command line, with everything needed to grade or start it.
#[derive(Debug)]
pub struct Selection {
    pub curriculum: Curriculum,
    pub lab_id: String,
    pub steps: Vec<StepRubric>,
    pub vars: Vars,
    pub submission: PathBuf,
}

impl Selection {
    pub fn lab(&self) -> &Lab {
        self.curriculum.lab(&self.lab_id).expect("selected lab exists")
    }

    /// The ids of the selected steps.
    pub fn step_ids(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.id.as_str()).collect()
    }
}

/// Loads the curriculum from `course` and resolves `lab`, `step`, `--var`s and the submission.
pub fn select(
    course: &Path,
    lab: &str,
    step: Option<&str>,
    var_args: &[String],
    submission: Option<&Path>,
) -> anyhow::Result<Selection> {
    let curriculum = Curriculum::load(course)?;
    let lab_def = curriculum.lab(lab).map_err(anyhow::Error::msg)?;
    let chosen: Vec<&grading::Step> = match step {
        Some(id) => vec![lab_def.step(id).map_err(anyhow::Error::msg)?],
        None => lab_def.steps.iter().collect(),
    };
    let mut vars = Vars::new();
    for (name, value) in &lab_def.vars {
        vars.set(name, value);
    }
    for arg in var_args {
        let Some((name, value)) = arg.split_once('=') else {
            bail!("--var '{arg}' is not name=value (e.g. --var site_port=80)");
        };
        if !lab_def.vars.contains_key(name) {
            let known: Vec<_> = lab_def.vars.keys().map(String::as_str).collect();
            bail!("{} has no variable '{name}' (variables: {})", lab_def.id, known.join(", "));
        }
        vars.set(name, value);
    }
    let submission = match submission {
        Some(dir) => {
            if !dir.exists() {
                bail!("submission directory '{}' does not exist; pass --submission DIR with a checkout laid out like this workspace", dir.display());
            }
            if !dir.is_dir() {
                bail!("submission '{}' is not a directory; pass --submission DIR", dir.display());
            }
            let dir = dir.canonicalize().with_context(|| format!("cannot resolve '{}'", dir.display()))?;
            // Nothing there (hidden files such as .git aside): an empty clone, the wrong folder -
            // no grade could be fair to it.
            let empty = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read '{}'", dir.display()))?
                .filter_map(Result::ok)
                .all(|e| e.file_name().to_string_lossy().starts_with('.'));
            if empty {
                bail!(
                    "submission '{}' is empty: nothing to grade (pass --submission DIR with a checkout of the course)",
                    dir.display()
                );
            }
            dir
        }
        None => course.to_path_buf(),
    };
    // What the submission's compose file gives in a file of its own (a secret read through a
    // `*_FILE` variable) is what the checks use, unless --var named it.
    let given: Vec<&str> = var_args.iter().filter_map(|a| a.split_once('=').map(|(n, _)| n)).collect();
    for (name, from) in &lab_def.from_compose {
        if given.contains(&name.as_str()) {
            continue;
        }
        let dir = submission.join(vars.expand(&from.dir));
        let images = vars.expand(&from.images);
        let families: Vec<&str> = images.split_whitespace().collect();
        if let Some(value) = grading::check::secret_value(&dir, &submission, &families, &from.file_env) {
            vars.set(name, value);
        }
    }
    let mut steps = Vec::new();
    for step in chosen {
        let rubric = curriculum.rubric(lab_def, step)?;
        steps.push(StepRubric { id: step.id.clone(), title: step.title.clone(), rubric });
    }
    Ok(Selection { lab_id: lab_def.id.clone(), curriculum, steps, vars, submission })
}

/// A submission of the course's reference solutions for `lab`: the course's `labs/` folder copied
/// into a temporary directory, every step's `solution/` copied over the step (the layout contract:
/// `labs/<step>/solution/` holds the step's files at the same relative paths). Every lab's, not
/// only `lab`'s: a lab builds on the ones before it (lab 2's front door serves lab 1's site).
pub fn solutions(course: &Path, lab: &str) -> anyhow::Result<tempfile::TempDir> {
    let curriculum = Curriculum::load(course)?;
    curriculum.lab(lab).map_err(anyhow::Error::msg)?;
    let steps = || curriculum.labs.iter().flat_map(|lab| &lab.steps);
    if !steps().any(|step| course.join(&step.dir).join("solution").is_dir()) {
        anyhow::bail!(
            "this copy of the course has no solutions (a student repository): --solutions works in the instructor's course"
        );
    }
    let dir = tempfile::Builder::new().prefix("clabs-solutions-").tempdir().context("cannot create a directory")?;
    copy_tree(&course.join("labs"), &dir.path().join("labs"))?;
    for step in steps() {
        let solution = course.join(&step.dir).join("solution");
        if solution.is_dir() {
            copy_tree(&solution, &dir.path().join(&step.dir))?;
        }
    }
    Ok(dir)
}

/// Copies the files under `from` into `to` (made as needed), over what is there; symlinks as links.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_symlink() {
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else {
            std::fs::copy(&source, &target).with_context(|| format!("cannot copy {}", source.display()))?;
        }
    }
    Ok(())
}
