//! `course-book SRC`: builds the mdBook staged in `SRC` (its `book.toml` says where to). `cargo
//! xtask book` stages the handouts and runs this; it checks the links afterwards.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(source) = std::env::args_os().nth(1) else {
        eprintln!("error: give the staged book's folder: course-book SRC");
        return ExitCode::from(2);
    };
    let built = mdbook::MDBook::load(&source)
        .map_err(|e| format!("the book does not load: {e:#}"))
        .and_then(|book| book.build().map_err(|e| format!("the book does not build: {e:#}")));
    match built {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("error: {why}");
            ExitCode::from(2)
        }
    }
}
