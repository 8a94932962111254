//! The `restore-doctor` command-line tool: parse the arguments, run, exit with the code.

use restore_doctor::cli::{parse, run};

fn main() {
    let code = match parse(std::env::args_os()) {
        Ok(cli) => run(cli),
        Err(code) => code,
    };
    std::process::exit(code);
}
