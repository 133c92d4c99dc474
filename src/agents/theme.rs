//! `theme_agent`: detects the party theme (SPEC §6.2 table).
//! Pure.

use crate::domain::ThemeResult;

use super::AgentInput;

/// Scores every theme-relevant input against the theme table.
pub fn run(_input: &AgentInput<'_>) -> ThemeResult {
    todo!("agents helper")
}
