//! Records which commit the binary was built from, for `partybus --version`,
//! `/health` and the `partybus_build_info` metric (see `src/build_info.rs`).
//!
//! Sets `PARTYBUS_COMMIT` (short hash, `-dirty` when tracked files have
//! changes) and `PARTYBUS_COMMIT_DATE` (the commit's date, YYYY-MM-DD) for
//! the crate. Sources, in order:
//! 1. the environment variables of the same names at build time (the
//!    Dockerfile's `--build-arg PARTYBUS_COMMIT`, or any packager's);
//! 2. `git` run in this package's own checkout (a `.git` directory, or a
//!    `.git` file in a worktree); a parent directory's repository is never
//!    asked, so a crate unpacked inside some other repository does not
//!    borrow its commit;
//! 3. `unknown` (e.g. `cargo install` from a crate tarball, or no `git`).
//!
//! Must never fail the build: every failure falls back to `unknown`. Re-runs
//! only when the env overrides change or `HEAD` (or the ref it points to)
//! moves, so ordinary edits do not re-run it; `-dirty` is therefore as of
//! the last commit or checkout, not of every edit.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Used when nothing better is known.
const UNKNOWN: &str = "unknown";

/// Longest override accepted; anything longer (or with odd characters) is
/// not a commit id and is replaced by `unknown`.
const MAX_COMMIT_CHARS: usize = 64;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PARTYBUS_COMMIT");
    println!("cargo:rerun-if-env-changed=PARTYBUS_COMMIT_DATE");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());

    let from_env = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (commit, date) = match from_env("PARTYBUS_COMMIT") {
        Some(commit) => (commit, from_env("PARTYBUS_COMMIT_DATE")),
        None => match git_dirs(&manifest_dir) {
            Some(dirs) => {
                watch_head(&dirs);
                (
                    git_commit(&manifest_dir).unwrap_or_else(|| UNKNOWN.to_string()),
                    git(
                        &manifest_dir,
                        &["log", "-1", "--format=%cd", "--date=short"],
                    ),
                )
            }
            None => (UNKNOWN.to_string(), None),
        },
    };
    let commit = sane(&commit).unwrap_or_else(|| UNKNOWN.to_string());
    let date = date
        .as_deref()
        .and_then(sane)
        .unwrap_or_else(|| UNKNOWN.to_string());
    println!("cargo:rustc-env=PARTYBUS_COMMIT={commit}");
    println!("cargo:rustc-env=PARTYBUS_COMMIT_DATE={date}");
}

/// `s` if it looks like a commit id or a date (a short token), else `None`:
/// it ends up in a Prometheus label and a `--version` line.
fn sane(s: &str) -> Option<String> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= MAX_COMMIT_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b));
    ok.then(|| s.to_string())
}

/// Where this checkout's git metadata is: the worktree's own git dir
/// (holding `HEAD`) and the common dir (holding `refs/` and `packed-refs`).
/// They are the same for an ordinary clone.
struct GitDirs {
    git_dir: PathBuf,
    common_dir: PathBuf,
}

/// The git dirs of the repository whose top level is `dir` itself.
fn git_dirs(dir: &Path) -> Option<GitDirs> {
    let dot_git = dir.join(".git");
    let git_dir = if dot_git.is_dir() {
        dot_git
    } else {
        // A worktree (or submodule): `.git` is a file `gitdir: PATH`.
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let path = text.strip_prefix("gitdir:")?.trim();
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            dir.join(path)
        }
    };
    // A linked worktree's git dir names the common dir in `commondir`.
    let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(text) => {
            let path = Path::new(text.trim());
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                git_dir.join(path)
            }
        }
        Err(_) => git_dir.clone(),
    };
    Some(GitDirs {
        git_dir,
        common_dir,
    })
}

/// Asks cargo to re-run this script when `HEAD` changes (a checkout) or the
/// branch it points to moves (a commit); `packed-refs` too, where a branch
/// may live after `git gc`.
fn watch_head(dirs: &GitDirs) {
    let head = dirs.git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    if let Ok(text) = std::fs::read_to_string(&head) {
        if let Some(reference) = text.strip_prefix("ref:") {
            let reference = reference.trim();
            // Per-worktree refs (rare) live in the worktree's own git dir.
            let own = dirs.git_dir.join(reference);
            let path = if own.exists() {
                own
            } else {
                dirs.common_dir.join(reference)
            };
            // A packed ref has no file of its own (and a missing file would
            // make cargo re-run this script on every build): watch the
            // nearest directory, where the next commit creates the file.
            let watched = path.ancestors().find(|p| p.exists()).unwrap_or(&path);
            println!("cargo:rerun-if-changed={}", watched.display());
        }
    }
    let packed = dirs.common_dir.join("packed-refs");
    if packed.exists() {
        println!("cargo:rerun-if-changed={}", packed.display());
    }
}

/// The short hash of `HEAD`, with `-dirty` when tracked files differ from it.
fn git_commit(dir: &Path) -> Option<String> {
    let hash = git(dir, &["rev-parse", "--short=7", "HEAD"])?;
    let status = git(dir, &["status", "--porcelain", "--untracked-files=no"]);
    Some(match status {
        Some(changes) if !changes.is_empty() => format!("{hash}-dirty"),
        _ => hash,
    })
}

/// `git ARGS` in `dir`: its trimmed stdout, or `None` if git is missing or
/// fails. `git status` with no changes prints nothing: `Some("")`.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
