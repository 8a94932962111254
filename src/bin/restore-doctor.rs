use clap::Parser;
use restore_doctor::cli::Cli;

fn main() {
    let cli = Cli::parse();
    eprintln!("{cli:?}: not implemented yet");
    std::process::exit(1);
}
