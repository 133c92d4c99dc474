//! The per-party scheduler, `input_analyzer`'s deciding half: turns input
//! changes into change waves and runs each wave's agents in dependency order.
//!
//! A pure state machine: [`Scheduler::on_event`] takes an event and a snapshot
//! of its party and returns the events to publish (`should_execute`,
//! `data_removed`). No threads, no clock, no I/O.
//!
//! Invariants:
//! - One wave at a time per party; changes arriving mid-wave are coalesced
//!   into the next wave.
//! - Within a wave, stages run in order: theme → (venue, cake, catering,
//!   vendor) → budget → final planner. A stage starts only when every agent
//!   of the previous stage has completed or failed: an answer counts only
//!   when its `causation_id` is the wave's own `should_execute`, so a late,
//!   duplicate or stale answer never moves a wave on.
//! - A wave runs exactly the agents whose inputs (relevant input ids and the
//!   facts they read) changed since the previous wave, each once; a changed
//!   theme re-runs every active downstream agent; an agent left without
//!   relevant inputs loses its result (`data_removed`) instead of running.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::domain::AgentName;
use crate::event::{AgentDataRemoved, Draft, Event, ExecutionType, Payload, ShouldExecute};
use crate::store::{AgentStatus, Input, Party, PartyStatus};

use super::analyzer::{areas_by_input, party_facts, theme_points, Facts};

/// Which inputs are relevant to which agent, and what each agent reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Relevance {
    /// Relevant input ids per agent, in input order.
    pub inputs: BTreeMap<AgentName, Vec<String>>,
    /// A fingerprint of everything each agent reads from the inputs.
    pub signatures: BTreeMap<AgentName, u64>,
}

/// Agents the scheduler may run, in dependency order (not the analyzer).
const RUNNABLE: [AgentName; 6] = AgentName::AREAS;

/// Which inputs ask for each agent's area (the analyzer's areas: words and
/// facts), and a fingerprint of what each agent reads.
pub(crate) fn relevance(party: &Party, facts: &Facts, cities: &[String]) -> Relevance {
    let mut inputs: BTreeMap<AgentName, Vec<String>> = BTreeMap::new();
    for (input_id, areas) in areas_by_input(&party.inputs, facts, cities) {
        for agent in areas {
            inputs.entry(agent).or_default().push(input_id.clone());
        }
    }
    // With a stated budget, every cost agent shares it with the others, so
    // each reads every fact the other areas' searches depend on.
    let shared = facts.budget.map(|_| {
        let mut h = DefaultHasher::new();
        super::allocation::hash_inputs(facts, &mut h);
        h.finish()
    });
    let mut signatures = BTreeMap::new();
    for agent in RUNNABLE {
        let mut h = DefaultHasher::new();
        let ids = inputs.get(&agent).map(Vec::as_slice).unwrap_or(&[]);
        if agent == AgentName::Theme {
            // Every input asks for the theme; what it reads is below.
            ids.is_empty().hash(&mut h);
        } else {
            ids.hash(&mut h);
        }
        let place = (&facts.city, &facts.city_stated);
        match agent {
            AgentName::Theme => {
                // The theme agent reads the inputs that name a theme.
                for i in &party.inputs {
                    if !i.tags.is_empty() || !theme_points(&i.content).is_empty() {
                        (&i.content, &i.tags).hash(&mut h);
                    }
                }
                facts.theme.hash(&mut h);
            }
            AgentName::Venue => (
                facts.guest_count,
                facts.venue_budget,
                &facts.setting,
                facts.setting_preferred,
                place,
                shared,
            )
                .hash(&mut h),
            AgentName::Cake => (
                facts.guest_count,
                facts.cake_budget,
                &facts.dietary,
                &facts.flavors,
                place,
                shared,
            )
                .hash(&mut h),
            AgentName::Catering => (
                facts.guest_count,
                facts.catering_budget,
                &facts.dietary,
                &facts.cuisines,
                place,
                shared,
            )
                .hash(&mut h),
            AgentName::Vendor => (&facts.vendor_categories, place, shared).hash(&mut h),
            AgentName::Budget => (facts.budget, shared).hash(&mut h),
            _ => {}
        }
        signatures.insert(agent, h.finish());
    }
    // The planner shows every fact with its words.
    let mut h = DefaultHasher::new();
    facts.values().hash(&mut h);
    facts.provenance.hash(&mut h);
    signatures.insert(AgentName::FinalPlanner, h.finish());
    Relevance { inputs, signatures }
}

/// What caused a wave.
#[derive(Debug, Clone)]
struct Cause {
    event: Event,
    removed_input: Option<String>,
}

#[derive(Debug, Clone)]
struct Planned {
    execution_type: ExecutionType,
    reason: String,
    input_ids: Vec<String>,
}

#[derive(Debug)]
struct Wave {
    number: u64,
    /// `last_seq` of the party state the wave was planned from.
    basis: u64,
    /// Agents to run, with why.
    plan: BTreeMap<AgentName, Planned>,
    /// Stage now running (1..=4).
    stage: u8,
    /// Agents of the running stage that have not finished, each with the
    /// event id of its `should_execute` (its answer's `causation_id`).
    outstanding: BTreeMap<AgentName, String>,
    /// Primary theme when the wave started.
    theme_before: Option<String>,
    /// Whether budget must run even if no cost agent runs.
    budget_forced: bool,
}

#[derive(Debug, Default)]
struct PartySchedule {
    last: BTreeMap<AgentName, u64>,
    waves: u64,
    current: Option<Wave>,
    /// Latest input change not yet covered by a wave.
    dirty: Option<Cause>,
    /// A fork whose first change has not arrived: the inputs it copied, in
    /// order. Its results are the original's for exactly these inputs, so
    /// they become `last` when the first change arrives.
    forking: Option<Vec<Input>>,
}

/// The scheduler's state over all parties.
#[derive(Debug, Default)]
pub(crate) struct Scheduler {
    /// Seeded per process (foldhash): clients choose party ids.
    parties: HashMap<String, PartySchedule, foldhash::fast::RandomState>,
    cities: Vec<String>,
    /// Parties recovered at start-up that have not changed since: each as
    /// of the restart with its wave count. A party's entry seeds its
    /// schedule (what its last wave saw) when its next change arrives.
    restored: HashMap<String, (Arc<Party>, u64)>,
    /// Forks created in the batch being reacted to, whose baseline
    /// [`Scheduler::end_batch`] takes if no change arrived with the copy.
    new_forks: Vec<String>,
}

impl Scheduler {
    /// A scheduler; `cities` are the catalog's lowercased city names.
    pub(crate) fn new(cities: Vec<String>) -> Scheduler {
        Scheduler {
            parties: HashMap::default(),
            cities,
            restored: HashMap::new(),
            new_forks: Vec::new(),
        }
    }

    /// Seeds the scheduler after a restart with every recovered party that
    /// is not resumed: its state as of the restart (which its last finished
    /// wave covered) and its wave count. Agents those waves ran do not run
    /// again until their inputs change.
    pub(crate) fn restore(&mut self, baseline: HashMap<String, (Arc<Party>, u64)>) {
        self.restored = baseline;
    }

    /// Adds parties to the baseline (a cluster node taking a partition
    /// over: see [`Scheduler::restore`]).
    pub(crate) fn adopt(&mut self, baseline: HashMap<String, (Arc<Party>, u64)>) {
        self.restored.extend(baseline);
    }

    /// Forgets every party `leaving` selects (a cluster node whose lease on
    /// their partition ended: another node schedules them now).
    pub(crate) fn forget(&mut self, leaving: impl Fn(&str) -> bool) {
        self.parties.retain(|id, _| !leaving(id));
        self.restored.retain(|id, _| !leaving(id));
    }

    /// Resumes planning interrupted by a crash: seeds the party's schedule
    /// with what its last finished wave saw (`before`; `None` when no wave
    /// finished) and starts a wave caused by `cause`, its latest input change.
    /// Returns the events to publish.
    pub(crate) fn resume(
        &mut self,
        party: &Party,
        cause: &Event,
        before: Option<&Party>,
        waves: u64,
    ) -> Vec<Draft> {
        self.restored.remove(&party.party_id);
        let last = before
            .map(|b| match (&party.forked_from, waves) {
                // A fork interrupted before its first wave finished: what
                // it copied, minus what it could not reuse.
                (Some(_), 0) => fork_baseline(b, b.inputs.clone(), &self.cities),
                _ => signatures(b, &self.cities),
            })
            .unwrap_or_default();
        let removed_input = match &cause.payload {
            Payload::InputRemoved(p) => Some(p.input_id.clone()),
            _ => None,
        };
        self.parties.insert(
            party.party_id.clone(),
            PartySchedule {
                last,
                waves,
                current: None,
                dirty: Some(Cause {
                    event: cause.clone(),
                    removed_input,
                }),
                forking: None,
            },
        );
        let mut out = Vec::new();
        self.start_wave(party, &mut out);
        out
    }

    /// The party's schedule, seeded from its restored baseline if it has one.
    fn schedule(&mut self, party_id: &str) -> &mut PartySchedule {
        let (restored, cities) = (&mut self.restored, &self.cities);
        self.parties.entry(party_id.to_string()).or_insert_with(|| {
            match restored.remove(party_id) {
                Some((p, waves)) => PartySchedule {
                    last: signatures(&p, cities),
                    waves,
                    ..PartySchedule::default()
                },
                None => PartySchedule::default(),
            }
        })
    }

    /// Whether the party has no wave running and no change waiting.
    pub(crate) fn is_idle(&self, party_id: &str) -> bool {
        self.parties
            .get(party_id)
            .is_none_or(|p| p.current.is_none() && p.dirty.is_none())
    }

    /// Parties with a wave running or waiting.
    #[cfg(test)]
    pub(crate) fn busy_parties(&self) -> usize {
        self.parties
            .values()
            .filter(|p| p.current.is_some() || p.dirty.is_some())
            .count()
    }

    /// Feeds one event with the current snapshot of its party (`None` when
    /// the party does not exist); returns the events to publish.
    pub(crate) fn on_event(&mut self, ev: &Event, party: Option<&Party>) -> Vec<Draft> {
        let mut out = Vec::new();
        let Some(party) = party else {
            self.parties.remove(&ev.party_id);
            self.restored.remove(&ev.party_id);
            return out;
        };
        match &ev.payload {
            Payload::PartyDeleted(_) => {
                self.parties.remove(&ev.party_id);
                self.restored.remove(&ev.party_id);
            }
            Payload::PartyCreated(p) if p.forked_from.is_some() => {
                self.restored.remove(&ev.party_id);
                self.new_forks.push(ev.party_id.clone());
                self.parties.insert(
                    ev.party_id.clone(),
                    PartySchedule {
                        forking: Some(Vec::new()),
                        ..PartySchedule::default()
                    },
                );
            }
            Payload::PartyCreated(_) => {
                self.schedule(&ev.party_id);
            }
            // A fork's copied input is where it starts, not a change.
            Payload::InputAdded(p) if p.copied_from.is_some() => {
                if let Some(copied) = self
                    .parties
                    .get_mut(&ev.party_id)
                    .and_then(|s| s.forking.as_mut())
                {
                    copied.push(Input::added(p, &ev.timestamp));
                }
            }
            Payload::InputAdded(_) | Payload::InputRemoved(_) => {
                let removed_input = match &ev.payload {
                    Payload::InputRemoved(p) => Some(p.input_id.clone()),
                    _ => None,
                };
                let baseline = self
                    .parties
                    .get_mut(&ev.party_id)
                    .and_then(|s| s.forking.take())
                    .map(|copied| fork_baseline(party, copied, &self.cities));
                let sched = self.schedule(&ev.party_id);
                if let Some(baseline) = baseline {
                    sched.last = baseline;
                }
                sched.dirty = Some(Cause {
                    event: ev.clone(),
                    removed_input,
                });
                if sched.current.is_none() {
                    self.start_wave(party, &mut out);
                }
            }
            Payload::AgentCompleted(_)
            | Payload::AgentFailed(_)
            | Payload::BudgetUpdated(_)
            | Payload::PlanUpdated(_) => {
                let Some(agent) = ev.payload.agent() else {
                    return out;
                };
                let Some(sched) = self.parties.get_mut(&ev.party_id) else {
                    return out;
                };
                let Some(wave) = sched.current.as_mut() else {
                    return out;
                };
                // Only the answer to the request this wave waits for counts:
                // a late, duplicate or stale one (an earlier wave's, or from
                // before the party was deleted and created again) is not
                // taken for it.
                let awaited = ev
                    .causation_id
                    .as_deref()
                    .is_some_and(|c| wave.outstanding.get(&agent).is_some_and(|r| r == c));
                if awaited
                    && wave.outstanding.remove(&agent).is_some()
                    && wave.outstanding.is_empty()
                {
                    self.advance(party, ev, &mut out);
                }
            }
            _ => {}
        }
        out
    }

    /// Ends a batch: a fork whose copy came without a change takes its
    /// baseline now, from the copy (`party` reads the state after the
    /// batch, which is then the copy), instead of holding the copied
    /// inputs until a change arrives.
    pub(crate) fn end_batch(&mut self, party: impl Fn(&str) -> Option<Arc<Party>>) {
        for id in std::mem::take(&mut self.new_forks) {
            let Some(sched) = self.parties.get_mut(&id) else {
                continue;
            };
            let (Some(copied), Some(p)) = (sched.forking.take(), party(&id)) else {
                continue;
            };
            sched.last = fork_baseline(&p, copied, &self.cities);
        }
    }

    fn start_wave(&mut self, party: &Party, out: &mut Vec<Draft>) {
        let cities = &self.cities;
        let Some(sched) = self.parties.get_mut(&party.party_id) else {
            return;
        };
        let Some(cause) = sched.dirty.take() else {
            return;
        };
        let facts = party_facts(&party.inputs, cities);
        let rel = relevance(party, &facts, cities);
        let mut plan = BTreeMap::new();
        let mut lost_cost = false;
        for agent in RUNNABLE {
            let sig = rel.signatures.get(&agent).copied();
            let changed = sig != sched.last.get(&agent).copied();
            let ids = rel.inputs.get(&agent).cloned().unwrap_or_default();
            let state = party.agents.get(&agent);
            let failed = state.is_some_and(|s| s.status == AgentStatus::Failed);
            if agent == AgentName::Budget {
                continue;
            }
            if ids.is_empty() {
                if state.is_some() {
                    out.push(Draft::caused_by(
                        &cause.event,
                        AgentName::InputAnalyzer.as_str(),
                        Payload::AgentDataRemoved(AgentDataRemoved {
                            agent_name: agent,
                            reason: "no_relevant_inputs".into(),
                            removed_input_id: cause.removed_input.clone(),
                        }),
                    ));
                    lost_cost |= AgentName::COST_AGENTS.contains(&agent);
                }
                continue;
            }
            if !changed && !failed {
                continue;
            }
            let execution_type = if state.is_some() {
                ExecutionType::Rerun
            } else {
                ExecutionType::Start
            };
            let reason = if failed && !changed {
                "retrying after a failed run".to_string()
            } else if state.is_some() {
                "its inputs changed".to_string()
            } else {
                format!("{} relevant input(s)", ids.len())
            };
            plan.insert(
                agent,
                Planned {
                    execution_type,
                    reason,
                    input_ids: ids,
                },
            );
        }
        let budget_sig = rel.signatures.get(&AgentName::Budget).copied();
        // The budget is planned when money is stated or some cost area is.
        let costs_planned = rel
            .inputs
            .keys()
            .any(|a| *a == AgentName::Budget || AgentName::COST_AGENTS.contains(a));
        let budget_forced = lost_cost
            || (costs_planned && budget_sig != sched.last.get(&AgentName::Budget).copied());
        let facts_changed = rel.signatures.get(&AgentName::FinalPlanner)
            != sched.last.get(&AgentName::FinalPlanner);
        sched.last = rel.signatures;
        let removed_any = !out.is_empty();
        // An input that changes nothing an agent reads still gets the plan
        // re-made (the planner only): the party shows `planning` since the
        // change, and a plan saying it considered every input ends that.
        let waiting = party.status == PartyStatus::Planning;
        if plan.is_empty() && !budget_forced && !removed_any && !facts_changed && !waiting {
            // Nothing this wave would change.
            return;
        }
        sched.waves += 1;
        let theme_before = super::upstream_theme(party).map(str::to_string);
        sched.current = Some(Wave {
            number: sched.waves,
            basis: party.last_seq,
            plan,
            stage: 0,
            outstanding: BTreeMap::new(),
            theme_before,
            budget_forced: budget_forced || removed_any,
        });
        self.advance(party, &cause.event, out);
    }

    /// Starts the next non-empty stage of the party's wave, or ends the wave.
    fn advance(&mut self, party: &Party, trigger: &Event, out: &mut Vec<Draft>) {
        let Some(sched) = self.parties.get_mut(&party.party_id) else {
            return;
        };
        let Some(wave) = sched.current.as_mut() else {
            return;
        };
        loop {
            wave.stage += 1;
            match wave.stage {
                2 => {
                    // A changed theme re-runs every active downstream agent.
                    let theme_now = super::upstream_theme(party).map(str::to_string);
                    if wave.plan.contains_key(&AgentName::Theme) && theme_now != wave.theme_before {
                        for agent in [
                            AgentName::Venue,
                            AgentName::Cake,
                            AgentName::Catering,
                            AgentName::Vendor,
                        ] {
                            if wave.plan.contains_key(&agent) || !party.agents.contains_key(&agent)
                            {
                                continue;
                            }
                            let input_ids = input_ids_for(party, agent, &self.cities);
                            if input_ids.is_empty() {
                                continue;
                            }
                            wave.plan.insert(
                                agent,
                                Planned {
                                    execution_type: ExecutionType::Recalculate,
                                    reason: format!(
                                        "theme changed to {}",
                                        theme_now.as_deref().unwrap_or("none")
                                    ),
                                    input_ids,
                                },
                            );
                        }
                    }
                }
                3 => {
                    let cost_ran = wave.plan.keys().any(|a| AgentName::COST_AGENTS.contains(a));
                    if (cost_ran || wave.budget_forced)
                        && !wave.plan.contains_key(&AgentName::Budget)
                    {
                        wave.plan.insert(
                            AgentName::Budget,
                            Planned {
                                execution_type: ExecutionType::Recalculate,
                                reason: "costs or the stated budget changed".into(),
                                input_ids: Vec::new(),
                            },
                        );
                    }
                }
                4 => {
                    wave.plan.insert(
                        AgentName::FinalPlanner,
                        Planned {
                            execution_type: ExecutionType::Recalculate,
                            reason: "results changed".into(),
                            input_ids: Vec::new(),
                        },
                    );
                }
                5.. => {
                    sched.current = None;
                    if sched.dirty.is_some() {
                        self.start_wave(party, out);
                    }
                    return;
                }
                _ => {}
            }
            let stage = wave.stage;
            let due: Vec<AgentName> = wave
                .plan
                .keys()
                .copied()
                .filter(|a| a.stage() == stage)
                .collect();
            if due.is_empty() {
                continue;
            }
            for agent in due {
                let p = &wave.plan[&agent];
                let request = Draft::caused_by(
                    trigger,
                    AgentName::InputAnalyzer.as_str(),
                    Payload::AgentShouldExecute(ShouldExecute {
                        agent_name: agent,
                        execution_type: p.execution_type,
                        input_ids: p.input_ids.clone(),
                        priority: agent.priority(),
                        reason: p.reason.clone(),
                        wave: wave.number,
                        basis_seq: wave.basis,
                    }),
                );
                wave.outstanding.insert(agent, request.event_id.clone());
                out.push(request);
            }
            return;
        }
    }
}

/// What a fork's reused results were made from: the fingerprints of its
/// copied inputs, for the agents that have a result to reuse. An agent
/// without one (it failed in the original, say) counts as changed, so the
/// fork's first wave runs it.
fn fork_baseline(party: &Party, copied: Vec<Input>, cities: &[String]) -> BTreeMap<AgentName, u64> {
    let base = Party {
        inputs: copied,
        ..party.clone()
    };
    let mut last = signatures(&base, cities);
    last.retain(|agent, _| match agent {
        AgentName::Budget => party.budget.is_some(),
        AgentName::FinalPlanner => party.final_plan.is_some(),
        _ => party.result(*agent).is_some(),
    });
    last
}

/// What each agent reads from the party, fingerprinted.
fn signatures(party: &Party, cities: &[String]) -> BTreeMap<AgentName, u64> {
    let facts = party_facts(&party.inputs, cities);
    relevance(party, &facts, cities).signatures
}

fn input_ids_for(party: &Party, agent: AgentName, cities: &[String]) -> Vec<String> {
    let facts = party_facts(&party.inputs, cities);
    relevance(party, &facts, cities)
        .inputs
        .remove(&agent)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::agents::{self, AgentInput, Product};
    use crate::catalog::Catalog;
    use crate::event::{
        AgentCompleted, AgentStarted, InputAdded, InputRemoved, PartyCreated, RemovalReason,
        SourceType,
    };
    use crate::store::Store;

    /// Store, scheduler and pure agents on one thread: every event is applied,
    /// shown to the scheduler, and every `should_execute` is answered at once.
    struct Sim {
        store: Store,
        sched: Scheduler,
        catalog: Arc<Catalog>,
        seq: u64,
        log: Vec<Event>,
    }

    impl Sim {
        fn new() -> Sim {
            let catalog = Catalog::embedded();
            Sim {
                store: Store::new(),
                sched: Scheduler::new(catalog.cities.clone()),
                catalog,
                seq: 0,
                log: Vec::new(),
            }
        }

        /// Like the bus: a published batch is applied whole, then shown to
        /// the scheduler; what it and the agents publish forms the next batch.
        fn run(&mut self, first: Vec<Draft>) {
            let mut batch = first;
            while !batch.is_empty() {
                let events: Vec<Event> = batch
                    .drain(..)
                    .map(|d| {
                        self.seq += 1;
                        d.stamp(self.seq, format!("t{:06}", self.seq))
                    })
                    .collect();
                for ev in &events {
                    self.store.apply(ev);
                }
                let mut next = Vec::new();
                for ev in &events {
                    let party = self.store.party(&ev.party_id);
                    next.extend(self.sched.on_event(ev, party.as_deref()));
                    if let Payload::AgentShouldExecute(p) = &ev.payload {
                        next.extend(self.answer(ev, p.agent_name));
                    }
                }
                let store = &self.store;
                self.sched.end_batch(|id| store.party(id));
                self.log.extend(events);
                batch = next;
            }
        }

        /// What the runtime publishes for a request: a domain agent's
        /// `started` then `completed` (one execution id), or the budget or
        /// the plan.
        fn answer(&self, ev: &Event, agent: AgentName) -> Vec<Draft> {
            let party = self.store.party(&ev.party_id).expect("party");
            let facts = crate::agents::analyzer::extract_facts(&party.inputs, &self.catalog.cities);
            let input = AgentInput {
                party: &party,
                facts: &facts,
                catalog: &self.catalog,
            };
            let execution_id = format!("exec_{}", ev.seq);
            match agents::run(agent, &input).expect("runnable") {
                Product::Output(result, confidence) => vec![
                    Draft::caused_by(
                        ev,
                        agent.as_str(),
                        Payload::AgentStarted(AgentStarted {
                            agent_name: agent,
                            execution_id: execution_id.clone(),
                            input_count: 0,
                            message: String::new(),
                        }),
                    ),
                    Draft::caused_by(
                        ev,
                        agent.as_str(),
                        Payload::AgentCompleted(AgentCompleted {
                            reused_from: None,
                            agent_name: agent,
                            execution_id,
                            result: Arc::new(result),
                            confidence,
                            execution_time_ms: 0.0,
                        }),
                    ),
                ],
                Product::Budget(b) => vec![Draft::caused_by(
                    ev,
                    agent.as_str(),
                    Payload::BudgetUpdated(Arc::new(b)),
                )],
                Product::Plan(p) => vec![Draft::caused_by(
                    ev,
                    agent.as_str(),
                    Payload::PlanUpdated(Arc::new(p)),
                )],
            }
        }

        fn create(&mut self, party: &str, texts: &[&str]) {
            let mut drafts = vec![Draft::command(
                party,
                "corr_c",
                Payload::PartyCreated(PartyCreated {
                    forked_from: None,
                    created_by: None,
                    token_sha256: None,
                }),
            )];
            for (i, t) in texts.iter().enumerate() {
                drafts.push(add(party, &format!("inp_{i}"), t));
            }
            self.run(drafts);
        }

        /// Agents asked to run since log position `from`, in order.
        fn ran_since(&self, from: usize) -> Vec<AgentName> {
            self.log[from..]
                .iter()
                .filter_map(|e| match &e.payload {
                    Payload::AgentShouldExecute(p) => Some(p.agent_name),
                    _ => None,
                })
                .collect()
        }

        fn removed_since(&self, from: usize) -> Vec<AgentName> {
            self.log[from..]
                .iter()
                .filter_map(|e| match &e.payload {
                    Payload::AgentDataRemoved(p) => Some(p.agent_name),
                    _ => None,
                })
                .collect()
        }
    }

    fn add(party: &str, id: &str, text: &str) -> Draft {
        Draft::command(
            party,
            "corr_a",
            Payload::InputAdded(InputAdded {
                copied_from: None,
                input_id: id.into(),
                content: text.into(),
                source_type: SourceType::Text,
                tags: vec![],
                added_by: "user".into(),
                metadata: Default::default(),
                image_url: None,
            }),
        )
    }

    fn remove(party: &str, id: &str) -> Draft {
        Draft::command(
            party,
            "corr_r",
            Payload::InputRemoved(InputRemoved {
                input_id: id.into(),
                removed_by: "user".into(),
                reason: RemovalReason::UserAction,
            }),
        )
    }

    use AgentName::*;

    #[test]
    fn one_wave_runs_each_affected_agent_once_in_dependency_order() {
        let mut sim = Sim::new();
        sim.create("p", &["jungle theme party for 75 guests"]);
        // A guest count plans a venue and catering.
        assert_eq!(
            sim.ran_since(0),
            vec![Theme, Venue, Catering, Budget, FinalPlanner]
        );
        assert!(sim.sched.is_idle("p"));
        let p = sim.store.party("p").expect("party");
        assert!(p.final_plan.is_some() && p.budget.is_some());
    }

    #[test]
    fn several_initial_inputs_make_one_wave() {
        let mut sim = Sim::new();
        sim.create(
            "p",
            &[
                "jungle theme party for 75 guests",
                "need a chocolate cake with animal decorations",
                "outdoor venue preferred, budget around $2000",
            ],
        );
        assert_eq!(
            sim.ran_since(0),
            vec![Theme, Venue, Cake, Catering, Vendor, Budget, FinalPlanner]
        );
    }

    #[test]
    fn an_input_reruns_only_what_it_affects() {
        let mut sim = Sim::new();
        sim.create("p", &["jungle theme party for 75 guests"]);
        let mark = sim.log.len();
        // A cake input that does not change the theme: theme re-scores, cake runs;
        // venue is untouched.
        sim.run(vec![add(
            "p",
            "inp_cake",
            "chocolate cake with rainbow frosting",
        )]);
        assert_eq!(sim.ran_since(mark), vec![Theme, Cake, Budget, FinalPlanner]);
        let mark = sim.log.len();
        // A guest-count change re-runs the agents that read it.
        sim.run(vec![add("p", "inp_g", "actually we expect 120 guests")]);
        let ran = sim.ran_since(mark);
        assert!(ran.contains(&Venue) && ran.contains(&Cake), "{ran:?}");
        assert!(!ran.contains(&Theme), "{ran:?}");
    }

    #[test]
    fn a_changed_theme_recalculates_active_downstream_agents() {
        let mut sim = Sim::new();
        sim.create(
            "p",
            &["jungle theme party for 75 guests", "need a chocolate cake"],
        );
        let mark = sim.log.len();
        sim.run(vec![add(
            "p",
            "inp_space",
            "actually make it an astronaut galaxy rocket theme",
        )]);
        let ran = sim.ran_since(mark);
        assert_eq!(
            ran,
            vec![Theme, Venue, Cake, Catering, Budget, FinalPlanner]
        );
        let recalculated: Vec<ExecutionType> = sim.log[mark..]
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::AgentShouldExecute(p) if p.agent_name == Venue => Some(p.execution_type),
                _ => None,
            })
            .collect();
        assert_eq!(recalculated, vec![ExecutionType::Recalculate]);
        assert_eq!(
            crate::agents::upstream_theme(&sim.store.party("p").expect("party")),
            Some("space")
        );
    }

    #[test]
    fn removing_the_last_relevant_input_removes_the_result_and_recomputes() {
        let mut sim = Sim::new();
        sim.create("p", &["jungle theme party for 75 guests"]);
        sim.run(vec![add(
            "p",
            "inp_cake",
            "chocolate cake with rainbow frosting",
        )]);
        let p = sim.store.party("p").expect("party");
        assert!(p
            .budget
            .as_deref()
            .expect("budget")
            .breakdown
            .contains_key("cake"));
        let mark = sim.log.len();
        sim.run(vec![remove("p", "inp_cake")]);
        assert_eq!(sim.removed_since(mark), vec![Cake]);
        let ran = sim.ran_since(mark);
        assert!(ran.ends_with(&[Budget, FinalPlanner]), "{ran:?}");
        assert!(!ran.contains(&Cake) && !ran.contains(&Venue), "{ran:?}");
        let p = sim.store.party("p").expect("party");
        assert!(!p.agents.contains_key(&Cake));
        assert!(!p
            .budget
            .as_deref()
            .expect("budget")
            .breakdown
            .contains_key("cake"));
        let plan = p.final_plan.as_deref().expect("plan");
        assert!(plan.missing_agents.contains(&"cake_agent".to_string()));
    }

    #[test]
    fn areas_follow_the_facts_that_imply_them() {
        let mut sim = Sim::new();
        sim.create("p", &["unicorn party"]);
        assert_eq!(sim.ran_since(0), vec![Theme, FinalPlanner]);
        // A guest count alone plans a venue and catering.
        let mark = sim.log.len();
        sim.run(vec![add("p", "inp_g", "about 20 kids")]);
        assert_eq!(
            sim.ran_since(mark),
            vec![Venue, Catering, Budget, FinalPlanner]
        );
        // A date changes no search, but the plan shows it.
        let mark = sim.log.len();
        sim.run(vec![add("p", "inp_d", "March 15th from 2-5 PM")]);
        assert_eq!(sim.ran_since(mark), vec![FinalPlanner]);
        let p = sim.store.party("p").expect("party");
        let plan = p.final_plan.as_deref().expect("plan");
        assert_eq!(
            plan.facts.get("date").unwrap().value,
            serde_json::json!("March 15")
        );
        // A birthday plans a cake; a refusal in a later input takes it away.
        sim.run(vec![add("p", "inp_b", "it's for her 6th birthday")]);
        assert!(sim
            .store
            .party("p")
            .expect("party")
            .agents
            .contains_key(&Cake));
        let mark = sim.log.len();
        sim.run(vec![add("p", "inp_n", "no cake please, grandma bakes one")]);
        assert_eq!(sim.removed_since(mark), vec![Cake]);
        // Removing the input that stated the count removes what it implied.
        let mark = sim.log.len();
        sim.run(vec![remove("p", "inp_g")]);
        assert_eq!(sim.removed_since(mark), vec![Venue, Catering]);
        let p = sim.store.party("p").expect("party");
        assert!(!p.agents.contains_key(&Venue) && !p.agents.contains_key(&Catering));
        let plan = p.final_plan.as_deref().expect("plan");
        assert!(!plan.facts.contains_key("guests"));
    }

    #[test]
    fn changes_during_a_wave_are_coalesced_into_the_next() {
        let mut sim = Sim::new();
        sim.create("p", &[]);
        // Two inputs published together: the second arrives mid-wave.
        sim.run(vec![
            add("p", "inp_1", "jungle theme party for 75 guests"),
            add("p", "inp_2", "need a chocolate cake"),
        ]);
        let planners = sim
            .ran_since(0)
            .into_iter()
            .filter(|a| *a == FinalPlanner)
            .count();
        assert!(planners <= 2, "at most one follow-up wave");
        assert!(sim.sched.is_idle("p"));
        let p = sim.store.party("p").expect("party");
        assert!(p.agents.contains_key(&Cake) && p.agents.contains_key(&Venue));
    }

    #[test]
    fn an_input_no_agent_reads_only_remakes_the_plan_and_the_party_is_ready() {
        let mut sim = Sim::new();
        sim.create("p", &["jungle theme party for 75 guests"]);
        let mark = sim.log.len();
        sim.run(vec![add("p", "inp_x", "a piñata, please")]);
        assert_eq!(sim.ran_since(mark), vec![FinalPlanner]);
        assert!(sim.sched.is_idle("p"));
        let p = sim.store.party("p").expect("party");
        assert_eq!(p.status, PartyStatus::Ready);
    }

    #[test]
    fn an_input_that_changes_nothing_starts_no_wave() {
        let mut sim = Sim::new();
        sim.create("p", &["jungle theme party for 75 guests"]);
        let mark = sim.log.len();
        // Removing an input nobody has (unknown id) changes no signature.
        sim.run(vec![remove("p", "inp_unknown")]);
        assert!(sim.ran_since(mark).is_empty());
        assert!(sim.sched.is_idle("p"));
    }

    #[test]
    fn a_restored_party_reruns_only_what_a_new_input_affects() {
        let mut sim = Sim::new();
        sim.create("p", &["jungle theme party for 75 guests"]);
        // A restart: a fresh scheduler seeded with the party as recovered.
        let party = sim.store.party("p").expect("party");
        sim.sched = Scheduler::new(sim.catalog.cities.clone());
        sim.sched
            .restore([("p".to_string(), (party, 1))].into_iter().collect());
        let mark = sim.log.len();
        sim.run(vec![add(
            "p",
            "inp_cake",
            "chocolate cake with rainbow frosting",
        )]);
        assert_eq!(sim.ran_since(mark), vec![Theme, Cake, Budget, FinalPlanner]);
        let waves: Vec<u64> = sim.log[mark..]
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::AgentShouldExecute(p) => Some(p.wave),
                _ => None,
            })
            .collect();
        assert!(
            waves.iter().all(|w| *w == 2),
            "numbering goes on: {waves:?}"
        );
    }

    #[test]
    fn resume_runs_what_the_crash_left_unplanned_and_nothing_else() {
        let mut sim = Sim::new();
        sim.create("p", &["jungle theme party for 75 guests"]);
        let before = sim.store.party("p").expect("party");
        // An input committed just before a crash: applied, never scheduled.
        sim.seq += 1;
        let ev = add("p", "inp_cake", "chocolate cake with rainbow frosting")
            .stamp(sim.seq, format!("t{:06}", sim.seq));
        sim.store.apply(&ev);
        sim.log.push(ev.clone());
        sim.sched = Scheduler::new(sim.catalog.cities.clone());
        let party = sim.store.party("p").expect("party");
        let drafts = sim.sched.resume(&party, &ev, Some(&before), 1);
        let mark = sim.log.len();
        sim.run(drafts);
        assert_eq!(sim.ran_since(mark), vec![Theme, Cake, Budget, FinalPlanner]);
        assert!(sim.sched.is_idle("p"));
        // A change no agent reads resumes nothing.
        let mut sim = Sim::new();
        sim.create("q", &["jungle theme party for 75 guests"]);
        let before = sim.store.party("q").expect("party");
        sim.seq += 1;
        let ev = remove("q", "inp_unknown").stamp(sim.seq, format!("t{:06}", sim.seq));
        sim.store.apply(&ev);
        sim.sched = Scheduler::new(sim.catalog.cities.clone());
        let party = sim.store.party("q").expect("party");
        assert!(sim.sched.resume(&party, &ev, Some(&before), 1).is_empty());
        assert!(sim.sched.is_idle("q"));
    }

    #[test]
    fn dependency_order_holds_for_every_wave() {
        let mut sim = Sim::new();
        let texts = [
            "jungle theme party for 75 guests",
            "chocolate cake, vegan please",
            "tacos and burritos for dinner",
            "a dj and balloons",
            "budget around $3000",
        ];
        sim.create("p", &texts);
        for (i, t) in texts.iter().enumerate() {
            sim.run(vec![add("p", &format!("inp_x{i}"), t)]);
            sim.run(vec![remove("p", &format!("inp_{i}"))]);
        }
        // Within each wave, stages never go backwards.
        let mut wave = 0;
        let mut stage = 0;
        for e in &sim.log {
            if let Payload::AgentShouldExecute(p) = &e.payload {
                if p.wave != wave {
                    wave = p.wave;
                    stage = 0;
                }
                assert!(
                    p.agent_name.stage() >= stage,
                    "stage went backwards in wave {wave}"
                );
                stage = p.agent_name.stage();
            }
        }
    }

    /// Found by `order::dependency_order_always_holds`: a party deleted
    /// while its theme agent ran, then created again with the same id. The
    /// old run's answer arrived while the new wave waited for its own theme
    /// run, and moved that wave on: venue was asked before the new theme
    /// result existed.
    #[test]
    fn a_stale_or_duplicate_answer_does_not_move_a_wave_on() {
        let mut sim = Sim::new();
        // Applies one batch and shows it to the scheduler; returns its answer.
        let step = |sim: &mut Sim, drafts: Vec<Draft>| -> Vec<Event> {
            let events: Vec<Event> = drafts
                .into_iter()
                .map(|d| {
                    sim.seq += 1;
                    d.stamp(sim.seq, format!("t{:06}", sim.seq))
                })
                .collect();
            let mut out = Vec::new();
            for ev in &events {
                sim.store.apply(ev);
            }
            for ev in &events {
                let party = sim.store.party(&ev.party_id);
                out.extend(sim.sched.on_event(ev, party.as_deref()));
            }
            out.into_iter()
                .map(|d| {
                    sim.seq += 1;
                    let ev = d.stamp(sim.seq, format!("t{:06}", sim.seq));
                    sim.store.apply(&ev);
                    ev
                })
                .collect()
        };
        let created = || {
            Draft::command(
                "p",
                "corr_c",
                Payload::PartyCreated(PartyCreated {
                    forked_from: None,
                    created_by: None,
                    token_sha256: None,
                }),
            )
        };
        let text = "jungle theme party for 75 guests";
        let first = step(&mut sim, vec![created(), add("p", "inp_0", text)]);
        assert_eq!(first.len(), 1, "theme asked");
        let deleted = Draft::command(
            "p",
            "corr_d",
            Payload::PartyDeleted(crate::event::PartyDeleted {
                deleted_by: "user".into(),
            }),
        );
        assert!(step(&mut sim, vec![deleted]).is_empty());
        let second = step(&mut sim, vec![created(), add("p", "inp_0", text)]);
        assert_eq!(second.len(), 1, "theme asked again");
        // The first life's theme run answers late, twice: nothing moves.
        let stale = sim.answer(&first[0], Theme);
        assert!(step(&mut sim, stale.clone()).is_empty());
        assert!(step(&mut sim, stale).is_empty());
        // The awaited answer moves the wave on to venue.
        let awaited = sim.answer(&second[0], Theme);
        let next = step(&mut sim, awaited.clone());
        let asked: Vec<AgentName> = next.iter().filter_map(|e| e.payload.agent()).collect();
        assert_eq!(asked, vec![Venue, Catering]);
        // Its duplicate does not skip venue.
        assert!(step(&mut sim, awaited).is_empty());
    }

    /// Property: whatever the interleaving of input changes, deletions and
    /// re-creations over a few parties, of a lagging scheduler, and of agent
    /// answers (in any order, failed, duplicated, or stale from an earlier
    /// wave or an earlier life of the party), dependency order holds.
    mod order {
        use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

        use proptest::prelude::*;

        use super::*;
        use crate::agents::testutil;
        use crate::event::{AgentFailed, AgentStarted, ErrorType, PartyDeleted};

        const PARTIES: u8 = 3;
        const INPUTS: u8 = 4;
        const TEXTS: [&str; 10] = [
            "jungle theme party for 75 guests",
            "actually make it an astronaut galaxy rocket theme",
            "chocolate cake, vegan please",
            "tacos and burritos for dinner",
            "a dj and balloons",
            "budget around $3000",
            "outdoor venue in Austin",
            "we now expect 120 guests",
            "hello",
            "princess castle cake for 20 kids, $80 for the cake",
        ];

        #[derive(Debug, Clone)]
        enum Step {
            Create(u8),
            Delete(u8),
            Add(u8, u8, u8),
            Remove(u8, u8),
            /// The scheduler catches up on up to n published events.
            Schedule(u8),
            /// An agent answers one pending request (fails when true).
            Answer(u8, bool),
            /// An answer already published is delivered again.
            Duplicate(u8),
        }

        fn arb_step() -> impl Strategy<Value = Step> {
            prop_oneof![
                1 => (0..PARTIES).prop_map(Step::Create),
                1 => (0..PARTIES).prop_map(Step::Delete),
                5 => (0..PARTIES, 0..INPUTS, 0..TEXTS.len() as u8)
                    .prop_map(|(p, i, t)| Step::Add(p, i, t)),
                2 => (0..PARTIES, 0..INPUTS).prop_map(|(p, i)| Step::Remove(p, i)),
                6 => (1..6u8).prop_map(Step::Schedule),
                8 => (any::<u8>(), proptest::bool::weighted(0.15))
                    .prop_map(|(k, f)| Step::Answer(k, f)),
                1 => any::<u8>().prop_map(Step::Duplicate),
            ]
        }

        /// Which wave a request belongs to: party, the scheduler's life of
        /// that party (it forgets a party on deletion), wave number.
        type WaveKey = (String, u64, u64);

        /// The bus, the store, a scheduler that lags behind and agents that
        /// answer when told to, on one thread.
        struct Lab {
            store: Store,
            sched: Scheduler,
            seq: u64,
            log: Vec<Event>,
            /// Published events the scheduler has not seen yet.
            unseen: VecDeque<Event>,
            /// Requests (`should_execute`) not answered yet.
            pending: Vec<Event>,
            /// Answers published so far.
            answers: Vec<Event>,
            /// Per party: how many times the scheduler forgot it.
            life: HashMap<String, u64>,
            /// Request event id → its wave.
            wave_of: HashMap<String, WaveKey>,
        }

        impl Lab {
            fn new() -> Lab {
                Lab {
                    store: Store::new(),
                    sched: Scheduler::new(testutil::catalog().cities.clone()),
                    seq: 0,
                    log: Vec::new(),
                    unseen: VecDeque::new(),
                    pending: Vec::new(),
                    answers: Vec::new(),
                    life: HashMap::new(),
                    wave_of: HashMap::new(),
                }
            }

            /// One batch: stamped, applied whole, then fanned out.
            fn publish(&mut self, drafts: Vec<Draft>) {
                let events: Vec<Event> = drafts
                    .into_iter()
                    .map(|d| {
                        self.seq += 1;
                        d.stamp(self.seq, format!("t{:06}", self.seq))
                    })
                    .collect();
                for ev in &events {
                    self.store.apply(ev);
                }
                for ev in events {
                    match &ev.payload {
                        Payload::AgentShouldExecute(_) => self.pending.push(ev.clone()),
                        Payload::AgentCompleted(_)
                        | Payload::AgentFailed(_)
                        | Payload::BudgetUpdated(_)
                        | Payload::PlanUpdated(_) => self.answers.push(ev.clone()),
                        _ => {}
                    }
                    self.unseen.push_back(ev.clone());
                    self.log.push(ev);
                }
            }

            fn schedule(&mut self, n: usize) {
                for _ in 0..n {
                    let Some(ev) = self.unseen.pop_front() else {
                        return;
                    };
                    let party = self.store.party(&ev.party_id);
                    if party.is_none() || matches!(ev.payload, Payload::PartyDeleted(_)) {
                        *self.life.entry(ev.party_id.clone()).or_default() += 1;
                    }
                    let drafts = self.sched.on_event(&ev, party.as_deref());
                    let life = self.life.get(&ev.party_id).copied().unwrap_or(0);
                    for d in &drafts {
                        if let Payload::AgentShouldExecute(p) = &d.payload {
                            self.wave_of
                                .insert(d.event_id.clone(), (d.party_id.clone(), life, p.wave));
                        }
                    }
                    self.publish(drafts);
                }
            }

            /// What the runtime publishes for one request: started (domain
            /// agents), then the result, or a failure.
            fn answer(&mut self, k: usize, fail: bool) {
                if self.pending.is_empty() {
                    return;
                }
                let req = self.pending.remove(k % self.pending.len());
                let Payload::AgentShouldExecute(p) = &req.payload else {
                    return;
                };
                let agent = p.agent_name;
                let failed = |error: &str, error_type| {
                    Draft::caused_by(
                        &req,
                        agent.as_str(),
                        Payload::AgentFailed(AgentFailed {
                            agent_name: agent,
                            execution_id: "exec_x".into(),
                            error: error.into(),
                            error_type,
                            retry_count: 0,
                        }),
                    )
                };
                let Some(party) = self.store.party(&req.party_id) else {
                    let d = failed("party no longer exists", ErrorType::Validation);
                    self.publish(vec![d]);
                    return;
                };
                let mut out = Vec::new();
                if AgentName::DOMAIN.contains(&agent) {
                    out.push(Draft::caused_by(
                        &req,
                        agent.as_str(),
                        Payload::AgentStarted(AgentStarted {
                            agent_name: agent,
                            execution_id: "exec_x".into(),
                            input_count: 0,
                            message: String::new(),
                        }),
                    ));
                }
                if fail {
                    out.push(failed("agent panicked: injected", ErrorType::Internal));
                } else {
                    let catalog = testutil::catalog();
                    let facts =
                        crate::agents::analyzer::extract_facts(&party.inputs, &catalog.cities);
                    let input = testutil::agent_input(&party, &facts, &catalog);
                    let payload = match agents::run(agent, &input).expect("runnable") {
                        Product::Output(result, confidence) => {
                            Payload::AgentCompleted(AgentCompleted {
                                reused_from: None,
                                agent_name: agent,
                                execution_id: "exec_x".into(),
                                result: Arc::new(result),
                                confidence,
                                execution_time_ms: 0.0,
                            })
                        }
                        Product::Budget(b) => Payload::BudgetUpdated(Arc::new(b)),
                        Product::Plan(p) => Payload::PlanUpdated(Arc::new(p)),
                    };
                    out.push(Draft::caused_by(&req, agent.as_str(), payload));
                }
                self.publish(out);
            }

            fn duplicate(&mut self, k: usize) {
                if self.answers.is_empty() {
                    return;
                }
                let a = &self.answers[k % self.answers.len()];
                let mut d = Draft::command(&a.party_id, &a.correlation_id, a.payload.clone());
                d.causation_id = a.causation_id.clone();
                d.source = a.source.clone();
                self.publish(vec![d]);
            }

            fn step(&mut self, step: &Step) {
                let party = |p: &u8| format!("p{p}");
                match step {
                    Step::Create(p) if !self.store.contains(&party(p)) => {
                        self.publish(vec![Draft::command(
                            party(p),
                            "corr_c",
                            Payload::PartyCreated(PartyCreated {
                                forked_from: None,
                                created_by: None,
                                token_sha256: None,
                            }),
                        )])
                    }
                    Step::Delete(p) if self.store.contains(&party(p)) => {
                        self.publish(vec![Draft::command(
                            party(p),
                            "corr_d",
                            Payload::PartyDeleted(PartyDeleted {
                                deleted_by: "user".into(),
                            }),
                        )])
                    }
                    Step::Add(p, i, t) => {
                        let id = format!("inp_{i}");
                        let known = self
                            .store
                            .party(&party(p))
                            .is_some_and(|x| x.input(&id).is_none());
                        if known {
                            self.publish(vec![add(&party(p), &id, TEXTS[*t as usize])]);
                        }
                    }
                    Step::Remove(p, i) if self.store.contains(&party(p)) => {
                        self.publish(vec![remove(&party(p), &format!("inp_{i}"))]);
                    }
                    Step::Schedule(n) => self.schedule(*n as usize),
                    Step::Answer(k, fail) => self.answer(*k as usize, *fail),
                    Step::Duplicate(k) => self.duplicate(*k as usize),
                    _ => {}
                }
            }

            /// Delivers everything: the scheduler catches up, agents answer
            /// (successfully) in order, until nothing is left.
            fn drain(&mut self) {
                for _ in 0..10_000 {
                    self.schedule(usize::MAX);
                    if self.pending.is_empty() {
                        return;
                    }
                    self.answer(0, false);
                }
                panic!("the pipeline never settled");
            }

            /// Checks dependency order over the whole log.
            fn check(&self) -> Result<(), TestCaseError> {
                let mut answered: HashSet<&str> = HashSet::new();
                let mut waves: BTreeMap<&WaveKey, Vec<(AgentName, &str)>> = BTreeMap::new();
                for ev in &self.log {
                    match &ev.payload {
                        Payload::AgentShouldExecute(p) => {
                            let key = &self.wave_of[&ev.event_id];
                            let stage = p.agent_name.stage();
                            let seen = waves.entry(key).or_default();
                            for (agent, id) in seen.iter() {
                                prop_assert!(
                                    *agent != p.agent_name,
                                    "{} asked twice in wave {:?}",
                                    agent,
                                    key
                                );
                                prop_assert!(
                                    agent.stage() <= stage,
                                    "{} asked after {} in wave {:?}",
                                    agent,
                                    p.agent_name,
                                    key
                                );
                                prop_assert!(
                                    agent.stage() == stage || answered.contains(id),
                                    "{} asked before upstream {} answered, wave {:?} (seq {})",
                                    p.agent_name,
                                    agent,
                                    key,
                                    ev.seq
                                );
                            }
                            seen.push((p.agent_name, &ev.event_id));
                        }
                        Payload::AgentCompleted(_)
                        | Payload::AgentFailed(_)
                        | Payload::BudgetUpdated(_)
                        | Payload::PlanUpdated(_) => {
                            if let Some(c) = ev.causation_id.as_deref() {
                                answered.insert(c);
                            }
                        }
                        _ => {}
                    }
                }
                // Every wave of every live party's current life ended with
                // the final planner, answered; waves are numbered 1, 2, ...
                for id in self.store.party_ids() {
                    let life = self.life.get(&id).copied().unwrap_or(0);
                    let mine: Vec<(&&WaveKey, &Vec<(AgentName, &str)>)> = waves
                        .iter()
                        .filter(|(k, _)| k.0 == id && k.1 == life)
                        .collect();
                    for (n, (key, asked)) in mine.iter().enumerate() {
                        prop_assert_eq!(key.2, n as u64 + 1, "wave numbers of {}", id);
                        let planners = asked
                            .iter()
                            .filter(|(a, _)| *a == AgentName::FinalPlanner)
                            .count();
                        prop_assert_eq!(planners, 1, "wave {:?}: {:?}", key, asked);
                        let (last, req) = asked.last().expect("non-empty");
                        prop_assert_eq!(*last, AgentName::FinalPlanner);
                        prop_assert!(answered.contains(req), "wave {:?} unfinished", key);
                    }
                    prop_assert!(self.sched.is_idle(&id), "{} not idle", id);
                }
                prop_assert_eq!(self.sched.busy_parties(), 0);
                Ok(())
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(192))]

            #[test]
            fn dependency_order_always_holds(
                steps in proptest::collection::vec(arb_step(), 1..80),
            ) {
                let mut lab = Lab::new();
                for p in 0..PARTIES {
                    lab.step(&Step::Create(p));
                }
                for step in &steps {
                    lab.step(step);
                }
                lab.drain();
                lab.check()?;
            }
        }
    }
}
