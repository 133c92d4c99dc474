//! Forks: what a new party starting from another's state as of a `seq`
//! copies, reuses and has to plan again.
//!
//! A fork's inputs are the original's as of that `seq`. Its agent results
//! come from the original's latest *settled* state at or before it (the
//! last point where every input change had been planned for): those
//! results were made for exactly that state's inputs, so the fork copies
//! those inputs (`copied_from`), reuses those results (`reused_from`), the
//! budget and the plan, and then applies as changes whatever differs
//! between that state and the `seq` asked for (planning that was under way
//! there), then the client's changes. The scheduler runs only the agents
//! whose fingerprints those changes alter.
//!
//! Pure: reads the original's events and returns payloads. Must not lock,
//! publish or do I/O ([`crate::app::App::fork_party`] does).

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::{Budget, FinalPlan};
use crate::event::{AgentCompleted, Event, InputAdded, Payload};
use crate::recovery::Tracker;
use crate::store::{AgentStatus, Input, Party, Store};

/// What a fork starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Base {
    /// The `seq` recorded as `forked_from.seq`: the one asked for, or the
    /// original's latest.
    pub seq: u64,
    /// Inputs to copy, each with the copied `party.input.added` event id.
    pub copied: Vec<(InputAdded, String)>,
    /// Results to reuse (each with `reused_from` set).
    pub reused: Vec<AgentCompleted>,
    /// The budget to copy.
    pub budget: Option<Arc<Budget>>,
    /// The plan to copy.
    pub plan: Option<Arc<FinalPlan>>,
    /// Inputs to remove after the copy: planning under way at `seq` had
    /// not covered their removal.
    pub catch_up_removed: Vec<String>,
    /// Inputs to add after the copy, for the same reason.
    pub catch_up_added: Vec<InputAdded>,
}

impl Base {
    /// The fork's input ids once the copy and catch-up are applied.
    pub fn input_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .copied
            .iter()
            .map(|(i, _)| i.input_id.clone())
            .filter(|id| !self.catch_up_removed.contains(id))
            .collect();
        ids.extend(self.catch_up_added.iter().map(|i| i.input_id.clone()));
        ids
    }
}

/// Why a fork cannot start at the `seq` asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseError {
    /// The party did not exist at that `seq` (before its creation, or
    /// between a deletion and a new party with the same id).
    #[error("party {party_id} did not exist at seq {seq}")]
    NotAlive {
        /// The party.
        party_id: String,
        /// The `seq` asked for.
        seq: u64,
    },
}

/// What a fork of `party_id` at `at_seq` (`None`: its latest state) starts
/// from, given its events in `seq` order. `live` is the original as the
/// store holds it now: results that are the same run share its memory.
pub fn base(
    party_id: &str,
    history: &[Arc<Event>],
    at_seq: Option<u64>,
    live: Option<&Party>,
) -> Result<Base, BaseError> {
    let upto = at_seq.unwrap_or(u64::MAX);
    // First pass: the state at `upto`, the last settled `seq` before it,
    // and the event ids of inputs and results.
    let mut store = Store::new();
    let mut tracker = Tracker::default();
    let mut settled = 0;
    let mut last = 0;
    let mut added_by_event: HashMap<String, String> = HashMap::new();
    let mut completed_by_run: HashMap<String, String> = HashMap::new();
    for ev in history.iter().take_while(|e| e.seq <= upto) {
        store.apply(ev);
        tracker.observe(ev, &store);
        match &ev.payload {
            Payload::PartyCreated(_) => {
                added_by_event.clear();
                completed_by_run.clear();
            }
            Payload::InputAdded(p) => {
                added_by_event.insert(p.input_id.clone(), ev.event_id.clone());
            }
            Payload::AgentCompleted(p) => {
                completed_by_run.insert(p.execution_id.clone(), ev.event_id.clone());
            }
            _ => {}
        }
        let quiet = tracker.track(party_id).is_some_and(|t| !t.interrupted());
        if quiet {
            settled = ev.seq;
        }
        last = ev.seq;
    }
    let Some(now) = store.party(party_id) else {
        return Err(BaseError::NotAlive {
            party_id: party_id.to_string(),
            seq: at_seq.unwrap_or(store.last_seq()),
        });
    };
    let seq = at_seq.unwrap_or(now.last_seq);
    // The settled state: the state at `upto` itself when planning had
    // finished there (the usual case), else a second pass (the latest
    // `party.created` is at or before it: a creation is settled at once).
    let then = if settled == last {
        now.clone()
    } else {
        let mut at_settled = Store::new();
        for ev in history.iter().take_while(|e| e.seq <= settled) {
            at_settled.apply(ev);
        }
        at_settled.party(party_id).unwrap_or_else(|| now.clone())
    };

    let copied = then
        .inputs
        .iter()
        .filter_map(|i| {
            let from = added_by_event.get(&i.input_id)?;
            Some((added(i, Some(from.clone())), from.clone()))
        })
        .collect();
    let mut reused = Vec::new();
    for (agent, state) in &then.agents {
        if !matches!(agent.stage(), 1 | 2) || state.status != AgentStatus::Completed {
            continue;
        }
        let (Some(result), Some(from)) = (
            state.result.get(),
            completed_by_run.get(&state.execution_id),
        ) else {
            continue;
        };
        // The same run as the live party's: share its result.
        let result = live
            .and_then(|l| l.agents.get(agent))
            .filter(|l| l.execution_id == state.execution_id)
            .and_then(|l| l.result.get())
            .unwrap_or(result);
        reused.push(AgentCompleted {
            agent_name: *agent,
            execution_id: state.execution_id.clone(),
            result: result.clone(),
            confidence: state.confidence,
            execution_time_ms: state.execution_time_ms,
            reused_from: Some(from.clone()),
        });
    }
    let budget = match (then.budget.get(), live.and_then(|l| l.budget.get())) {
        (Some(a), Some(b)) if a == b => Some(b.clone()),
        (a, _) => a.cloned(),
    };
    let plan = match (then.final_plan.get(), live.and_then(|l| l.final_plan.get())) {
        (Some(a), Some(b)) if a == b => Some(b.clone()),
        (a, _) => a.cloned(),
    };
    // Planning under way at `seq`: the difference becomes changes.
    let (catch_up_removed, catch_up_added) = if Arc::ptr_eq(&then, &now) {
        (Vec::new(), Vec::new())
    } else {
        let by_id = |p: &Party| -> HashMap<String, Input> {
            p.inputs
                .iter()
                .map(|i| (i.input_id.clone(), i.clone()))
                .collect()
        };
        let (before, after) = (by_id(&then), by_id(&now));
        let removed = then
            .inputs
            .iter()
            .filter(|i| after.get(&i.input_id) != Some(i))
            .map(|i| i.input_id.clone())
            .collect();
        let added_now = now
            .inputs
            .iter()
            .filter(|i| before.get(&i.input_id) != Some(i))
            .map(|i| added(i, None))
            .collect();
        (removed, added_now)
    };
    Ok(Base {
        seq,
        copied,
        reused,
        budget,
        plan,
        catch_up_removed,
        catch_up_added,
    })
}

/// The `party.input.added` payload that adds `input` again.
fn added(input: &Input, copied_from: Option<String>) -> InputAdded {
    InputAdded {
        input_id: input.input_id.clone(),
        content: input.content.clone(),
        source_type: input.source_type,
        tags: input.tags.clone(),
        added_by: input.added_by.clone(),
        metadata: input.metadata.clone(),
        image_url: input.image_url.clone(),
        copied_from,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::{ForkChange, NewFork, NewInput, NewParty};
    use crate::domain::AgentName;
    use crate::{App, Config};

    const WAIT: Duration = Duration::from_secs(20);

    fn text(content: &str) -> NewInput {
        NewInput {
            content: content.to_string(),
            ..NewInput::default()
        }
    }

    /// A party made of `inputs`, planned.
    fn planned(app: &App, id: &str, inputs: &[&str]) -> Arc<Party> {
        let ack = app
            .create_party(
                NewParty {
                    party_id: Some(id.to_string()),
                    initial_inputs: inputs.iter().map(|c| text(c)).collect(),
                    ..NewParty::default()
                },
                None,
            )
            .expect("create");
        assert!(app.wait_settled(id, ack.seq, WAIT), "{id} never settled");
        app.party(id).expect("party")
    }

    fn fork(app: &App, original: &str, id: &str, changes: Vec<ForkChange>) -> Arc<Party> {
        let forked = app
            .fork_party(
                original,
                NewFork {
                    party_id: Some(id.to_string()),
                    changes,
                    ..NewFork::default()
                },
                None,
            )
            .expect("fork");
        assert!(
            app.wait_settled(id, forked.ack.seq, WAIT),
            "{id} never settled"
        );
        app.party(id).expect("fork")
    }

    /// The agents that ran in `party` (a `should_execute` each).
    fn ran(app: &App, party: &str) -> Vec<AgentName> {
        let mut agents: Vec<AgentName> = app
            .events(party, 0, usize::MAX)
            .expect("events")
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::AgentShouldExecute(p) => Some(p.agent_name),
                _ => None,
            })
            .collect();
        agents.sort();
        agents.dedup();
        agents
    }

    fn input_with(party: &Party, words: &str) -> String {
        party
            .inputs
            .iter()
            .find(|i| i.content.contains(words))
            .map(|i| i.input_id.clone())
            .expect("input")
    }

    const PARTY: [&str; 4] = [
        "dinosaur theme birthday party",
        "30 guests in Austin",
        "a chocolate cake",
        "we need a photographer",
    ];

    #[test]
    fn a_fork_without_changes_reuses_everything_and_runs_nothing() {
        let app = App::start_new(Config::default()).expect("app");
        let original = planned(&app, "dino", &PARTY);
        let copy = fork(&app, "dino", "dino-copy", Vec::new());
        assert_eq!(ran(&app, "dino-copy"), Vec::<AgentName>::new());
        assert_eq!(copy.inputs.len(), 4);
        assert_eq!(copy.status, original.status);
        assert!(crate::diff::diff(&original, &copy).is_empty());
        for (agent, state) in &copy.agents {
            assert!(state.reused_from.is_some(), "{agent:?} not reused");
            // The same run's result, shared rather than copied.
            let theirs = original.agents[agent].result.get().expect("result");
            assert!(Arc::ptr_eq(state.result.get().expect("result"), theirs));
        }
        assert_eq!(
            copy.forked_from
                .as_ref()
                .map(|f| (f.party_id.as_str(), f.seq)),
            Some(("dino", original.last_seq))
        );
    }

    #[test]
    fn a_fork_reruns_only_what_its_changes_concern_and_plans_like_a_new_party() {
        let app = App::start_new(Config::default()).expect("app");
        let original = planned(&app, "dino", &PARTY);
        let thirty = input_with(&original, "30 guests");
        let fifty = fork(
            &app,
            "dino",
            "dino-50",
            vec![
                ForkChange::Remove(thirty),
                ForkChange::Add(text("50 guests in Austin")),
            ],
        );
        // Guests are read by the venue, cake and catering searches; the
        // theme and the vendors do not read them.
        let ran = ran(&app, "dino-50");
        for agent in [AgentName::Venue, AgentName::Cake, AgentName::Catering] {
            assert!(ran.contains(&agent), "{agent:?} did not run: {ran:?}");
        }
        for agent in [AgentName::Theme, AgentName::Vendor] {
            assert!(!ran.contains(&agent), "{agent:?} ran: {ran:?}");
            assert!(fifty.agents[&agent].reused_from.is_some());
        }
        // Reuse changes nothing: the same inputs planned from scratch give
        // the same plan.
        let fresh = planned(
            &app,
            "dino-fresh",
            &[PARTY[0], PARTY[2], PARTY[3], "50 guests in Austin"],
        );
        let d = crate::diff::diff(&fresh, &fifty);
        assert!(d.is_empty(), "{}", crate::diff::render_text(&d));
        let d = crate::diff::diff(&original, &fifty);
        assert!(!d.is_empty());
    }

    #[test]
    fn a_fork_at_an_earlier_seq_starts_from_that_state() {
        let app = App::start_new(Config::default()).expect("app");
        let first = planned(&app, "dino", &PARTY[..2]);
        let ack = app
            .add_input("dino", text("a chocolate cake"), None, None)
            .expect("add");
        assert!(app.wait_settled("dino", ack.seq, WAIT));
        let earlier = app
            .fork_party(
                "dino",
                NewFork {
                    party_id: Some("dino-then".into()),
                    at_seq: Some(first.last_seq),
                    ..NewFork::default()
                },
                None,
            )
            .expect("fork");
        assert_eq!(earlier.forked_from.seq, first.last_seq);
        assert!(app.wait_settled("dino-then", earlier.ack.seq, WAIT));
        let then = app.party("dino-then").expect("fork");
        assert_eq!(then.inputs.len(), 2);
        assert!(crate::diff::diff(&first, &then).is_empty());
        assert_eq!(ran(&app, "dino-then"), Vec::<AgentName>::new());
    }

    #[test]
    fn a_fork_mid_planning_plans_what_the_original_had_not() {
        // Events up to an input change but before its wave finished: the
        // fork reuses the results planned before, and plans the change.
        let app = App::start_new(Config::default()).expect("app");
        planned(&app, "dino", &PARTY[..2]);
        let ack = app
            .add_input("dino", text("a chocolate cake"), None, None)
            .expect("add");
        assert!(app.wait_settled("dino", ack.seq, WAIT));
        let history = app.events("dino", 0, usize::MAX).expect("events");
        let base = base("dino", &history, Some(ack.seq), None).expect("base");
        assert_eq!(base.copied.len(), 2);
        assert_eq!(base.catch_up_added.len(), 1);
        assert_eq!(base.catch_up_added[0].content, "a chocolate cake");
        assert!(base.catch_up_added[0].copied_from.is_none());
        let forked = app
            .fork_party(
                "dino",
                NewFork {
                    party_id: Some("dino-mid".into()),
                    at_seq: Some(ack.seq),
                    ..NewFork::default()
                },
                None,
            )
            .expect("fork");
        assert!(app.wait_settled("dino-mid", forked.ack.seq, WAIT));
        let mid = app.party("dino-mid").expect("fork");
        assert!(ran(&app, "dino-mid").contains(&AgentName::Cake));
        let d = crate::diff::diff(&app.party("dino").expect("dino"), &mid);
        assert!(d.is_empty(), "{}", crate::diff::render_text(&d));
    }

    #[test]
    fn forks_of_forks_outlive_their_originals() {
        let app = App::start_new(Config::default()).expect("app");
        let original = planned(&app, "dino", &PARTY);
        fork(
            &app,
            "dino",
            "dino-b",
            vec![ForkChange::Add(text("a taco bar"))],
        );
        let b = app.party("dino-b").expect("b");
        let photographer = input_with(&b, "photographer");
        let c = fork(
            &app,
            "dino-b",
            "dino-c",
            vec![ForkChange::Remove(photographer)],
        );
        assert_eq!(
            c.forked_from.as_ref().map(|f| f.party_id.as_str()),
            Some("dino-b")
        );
        app.delete_party("dino", None, None).expect("delete");
        app.delete_party("dino-b", None, None).expect("delete");
        assert!(app.party("dino").is_none());
        let still = app.party("dino-c").expect("c outlives its originals");
        assert_eq!(still.inputs.len(), 4);
        assert_eq!(still.final_plan.is_some(), original.final_plan.is_some());
        // Its own history holds everything: it forks again.
        let d = fork(&app, "dino-c", "dino-d", Vec::new());
        assert!(crate::diff::diff(&still, &d).is_empty());
    }

    #[test]
    fn bad_forks_are_refused_and_publish_nothing() {
        let app = App::start_new(Config::default()).expect("app");
        let original = planned(&app, "dino", &PARTY);
        let try_fork = |changes, at_seq| {
            app.fork_party(
                "dino",
                NewFork {
                    party_id: Some("dino-bad".into()),
                    changes,
                    at_seq,
                    ..NewFork::default()
                },
                None,
            )
        };
        let e = try_fork(vec![ForkChange::Remove("inp_nope".into())], None).unwrap_err();
        assert!(
            matches!(&e, crate::AppError::InvalidInput { field, .. } if field == "changes[0].remove"),
            "{e:?}"
        );
        let e = try_fork(Vec::new(), Some(original.last_seq + 1_000)).unwrap_err();
        assert!(matches!(&e, crate::AppError::InvalidInput { field, .. } if field == "at_seq"));
        let e = app
            .fork_party("nope", NewFork::default(), None)
            .unwrap_err();
        assert_eq!(e, crate::AppError::PartyNotFound("nope".into()));
        assert!(app.party("dino-bad").is_none());
        // The refused id is free.
        fork(&app, "dino", "dino-bad", Vec::new());
    }
}
