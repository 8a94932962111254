//! The `restore-doctor` CLI run against this harness's moto and fake, with nothing of
//! the machine's own AWS setup (no config or credentials file, no instance metadata).

use std::process::{Command, Output};

use super::{unique, Stack, REGION};

/// `restore-doctor <args>` with the test credentials, moto for every service but AWS
/// Backup and STS, which the fake answers.
pub fn restore_doctor(stack: &Stack, args: &[&str]) -> Output {
    let home = stack.dir.join(unique("home"));
    std::fs::create_dir_all(&home).unwrap();
    Command::new(env!("CARGO_BIN_EXE_restore-doctor"))
        .env_clear()
        .envs([
            ("HOME", home.as_os_str().to_owned()),
            ("AWS_CONFIG_FILE", home.join("none").into_os_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                home.join("none").into_os_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_MAX_ATTEMPTS", "1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL", stack.moto.url.clone().into()),
            ("AWS_ENDPOINT_URL_BACKUP", stack.fake.url.clone().into()),
            ("AWS_ENDPOINT_URL_STS", stack.fake.url.clone().into()),
        ])
        .args(args)
        .output()
        .unwrap()
}
