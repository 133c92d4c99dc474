//! What this binary was built from: the package version and the commit
//! (recorded by `build.rs`), for `partybus --version`, `/health` and the
//! `partybus_build_info` metric.
//!
//! Owns the constants and their one rendering; decides nothing else. The
//! commit is `unknown` when the build had neither git nor a
//! `PARTYBUS_COMMIT` override (e.g. `cargo install` from a crate tarball).

/// The package version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short commit hash, `-dirty` when the tree had changes, or `unknown`.
pub const COMMIT: &str = env!("PARTYBUS_COMMIT");

/// The commit's date (YYYY-MM-DD), or `unknown`.
pub const COMMIT_DATE: &str = env!("PARTYBUS_COMMIT_DATE");

/// What `--version` prints after the program name:
/// `0.1.0 (abc1234 2026-12-03)`, or `0.1.0 (unknown)`.
pub fn long_version() -> &'static str {
    static LONG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LONG.get_or_init(|| render(VERSION, COMMIT, COMMIT_DATE))
}

fn render(version: &str, commit: &str, date: &str) -> String {
    if date == "unknown" {
        format!("{version} ({commit})")
    } else {
        format!("{version} ({commit} {date})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_version_names_the_commit_and_its_date() {
        assert_eq!(
            render("0.1.0", "abc1234", "2026-12-03"),
            "0.1.0 (abc1234 2026-12-03)"
        );
        assert_eq!(render("0.1.0", "unknown", "unknown"), "0.1.0 (unknown)");
        assert!(long_version().starts_with(VERSION));
        assert!(!COMMIT.is_empty() && !COMMIT.contains(char::is_whitespace));
    }
}
