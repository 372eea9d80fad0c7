//! The phases of long work (`check --up`: the course's programs, the images, starting the
//! services, the checks, stopping, removing what the run made), with the time each takes.
//!
//! On a terminal: one spinner line, `[3/6] starting the services  14s`, cleared at the end. Elsewhere
//! (CI, a log): a plain line for each phase that took long enough to wonder about
//! ([`PLAIN_AFTER`]), when it ends - so a quick run prints nothing more than its report.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The spinner on the terminal now, if any: what is said meanwhile goes above it ([`say`]).
static CURRENT: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// A line for the person waiting (what is being built, pulled, installed): above the spinner when
/// there is one, else on standard error.
pub fn say(line: impl AsRef<str>) {
    let bar = CURRENT.lock().ok().and_then(|current| current.clone());
    match bar {
        Some(bar) => bar.println(line.as_ref()),
        None => eprintln!("{}", line.as_ref()),
    }
}

/// One of the parts a phase runs at once has ended (`  the images: 149.0 s`), said when it took
/// long enough to wonder about ([`PLAIN_AFTER`]), so the parts show how they overlapped.
pub fn part(name: &str, took: Duration) {
    if took >= PLAIN_AFTER {
        say(format!("  {name}: {}", seconds(took)));
    }
}

/// Without a terminal, a phase is reported when it took at least this long.
pub const PLAIN_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Phases {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    number: usize,
    name: String,
    since: Instant,
    started: Instant,
}

impl Phases {
    /// `total` phases to come; a spinner when standard error is a terminal (and `NO_PROGRESS` is unset).
    pub fn new(total: usize) -> Phases {
        let on_terminal = std::io::stderr().is_terminal() && std::env::var_os("NO_PROGRESS").is_none();
        Phases::with(total, on_terminal)
    }

    fn with(total: usize, on_terminal: bool) -> Phases {
        let bar = on_terminal.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            let style = indicatif::ProgressStyle::with_template("{spinner} {msg}  {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            if let Ok(mut current) = CURRENT.lock() {
                *current = Some(bar.clone());
            }
            bar
        });
        let now = Instant::now();
        Phases { bar, total, state: Mutex::new(State { number: 0, name: String::new(), since: now, started: now }) }
    }

    /// The next phase begins (and the one before ends).
    pub fn phase(&self, name: &str) {
        let mut state = self.state.lock().expect("phases");
        self.end(&state);
        state.number += 1;
        state.name = name.to_string();
        state.since = Instant::now();
        if let Some(bar) = &self.bar {
            bar.reset_elapsed();
            bar.set_message(format!("[{}/{}] {name}", state.number, self.total));
        }
    }

    /// The last phase ends: the spinner goes; without one, the whole took is said when it was long.
    pub fn finish(&self) {
        let state = self.state.lock().expect("phases");
        self.end(&state);
        match &self.bar {
            Some(bar) => {
                bar.finish_and_clear();
                forget_current();
            }
            None if state.started.elapsed() >= PLAIN_AFTER && state.number > 0 => {
                eprintln!("--up: {} phases in {}", state.number, seconds(state.started.elapsed()))
            }
            None => {}
        }
    }

    fn end(&self, state: &State) {
        if state.number == 0 || self.bar.is_some() {
            return;
        }
        let took = state.since.elapsed();
        if took >= PLAIN_AFTER {
            eprintln!("[{}/{}] {}: {}", state.number, self.total, state.name, seconds(took));
        }
    }
}

fn seconds(took: Duration) -> String {
    format!("{:.1} s", took.as_secs_f64())
}

fn forget_current() {
    if let Ok(mut current) = CURRENT.lock() {
        *current = None;
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            forget_current();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_count_up_and_a_quick_run_says_nothing_without_a_terminal() {
        let phases = Phases::with(2, false);
        phases.phase("one");
        assert_eq!(phases.state.lock().unwrap().number, 1);
        phases.phase("two");
        let state = phases.state.lock().unwrap();
        assert_eq!((state.number, state.name.as_str()), (2, "two"));
        drop(state);
        phases.finish();
        assert!(phases.bar.is_none());
    }
}
