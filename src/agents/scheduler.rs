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
//!   of the previous stage has completed or failed.
//! - A wave runs exactly the agents whose inputs (relevant input ids and the
//!   facts they read) changed since the previous wave, each once; a changed
//!   theme re-runs every active downstream agent; an agent left without
//!   relevant inputs loses its result (`data_removed`) instead of running.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use crate::domain::AgentName;
use crate::event::{AgentDataRemoved, Draft, Event, ExecutionType, Payload, ShouldExecute};
use crate::store::{AgentStatus, Party};

use super::analyzer::{classify, extract_facts, Facts};

/// Which inputs are relevant to which agent, and what each agent reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Relevance {
    /// Relevant input ids per agent, in input order.
    pub inputs: BTreeMap<AgentName, Vec<String>>,
    /// A fingerprint of everything each agent reads from the inputs.
    pub signatures: BTreeMap<AgentName, u64>,
}

/// Agents the scheduler may run, in dependency order (not the analyzer).
const RUNNABLE: [AgentName; 6] = [
    AgentName::Theme,
    AgentName::Venue,
    AgentName::Cake,
    AgentName::Catering,
    AgentName::Vendor,
    AgentName::Budget,
];

/// Classifies every input and fingerprints what each agent reads.
pub fn relevance(party: &Party, facts: &Facts) -> Relevance {
    let mut inputs: BTreeMap<AgentName, Vec<String>> = BTreeMap::new();
    for input in &party.inputs {
        let mut seen = BTreeSet::new();
        for (cat, _) in classify(&input.content, &input.tags) {
            let agent = cat.agent();
            if seen.insert(agent) {
                inputs
                    .entry(agent)
                    .or_default()
                    .push(input.input_id.clone());
            }
        }
    }
    let mut signatures = BTreeMap::new();
    for agent in RUNNABLE {
        let mut h = DefaultHasher::new();
        let ids = inputs.get(&agent).map(Vec::as_slice).unwrap_or(&[]);
        ids.hash(&mut h);
        match agent {
            AgentName::Theme => {
                // The theme agent reads the content and tags of its inputs.
                for i in party.inputs.iter().filter(|i| ids.contains(&i.input_id)) {
                    (&i.content, &i.tags).hash(&mut h);
                }
            }
            AgentName::Venue => {
                (facts.guest_count, facts.budget, &facts.setting, &facts.city).hash(&mut h)
            }
            AgentName::Cake => (
                facts.guest_count,
                facts.cake_budget,
                &facts.dietary,
                &facts.flavors,
                &facts.city,
            )
                .hash(&mut h),
            AgentName::Catering => (
                facts.guest_count,
                facts.catering_budget,
                &facts.dietary,
                &facts.cuisines,
                &facts.city,
            )
                .hash(&mut h),
            AgentName::Vendor => (facts.budget, &facts.vendor_categories, &facts.city).hash(&mut h),
            AgentName::Budget => facts.budget.hash(&mut h),
            _ => {}
        }
        signatures.insert(agent, h.finish());
    }
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
    /// Agents to run, with why.
    plan: BTreeMap<AgentName, Planned>,
    /// Stage now running (1..=4).
    stage: u8,
    /// Agents of the running stage that have not finished.
    outstanding: BTreeSet<AgentName>,
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
}

/// The scheduler's state over all parties.
#[derive(Debug, Default)]
pub struct Scheduler {
    parties: HashMap<String, PartySchedule>,
    cities: Vec<String>,
}

impl Scheduler {
    /// A scheduler; `cities` are the catalog's lowercased city names.
    pub fn new(cities: Vec<String>) -> Scheduler {
        Scheduler {
            parties: HashMap::new(),
            cities,
        }
    }

    /// Whether the party has no wave running and no change waiting.
    pub fn is_idle(&self, party_id: &str) -> bool {
        self.parties
            .get(party_id)
            .is_none_or(|p| p.current.is_none() && p.dirty.is_none())
    }

    /// Parties with a wave running or waiting.
    pub fn busy_parties(&self) -> usize {
        self.parties
            .values()
            .filter(|p| p.current.is_some() || p.dirty.is_some())
            .count()
    }

    /// Feeds one event with the current snapshot of its party (`None` when
    /// the party does not exist); returns the events to publish.
    pub fn on_event(&mut self, ev: &Event, party: Option<&Party>) -> Vec<Draft> {
        let mut out = Vec::new();
        let Some(party) = party else {
            self.parties.remove(&ev.party_id);
            return out;
        };
        match &ev.payload {
            Payload::PartyDeleted(_) => {
                self.parties.remove(&ev.party_id);
            }
            Payload::PartyCreated(_) => {
                self.parties.entry(ev.party_id.clone()).or_default();
            }
            Payload::InputAdded(_) | Payload::InputRemoved(_) => {
                let removed_input = match &ev.payload {
                    Payload::InputRemoved(p) => Some(p.input_id.clone()),
                    _ => None,
                };
                let sched = self.parties.entry(ev.party_id.clone()).or_default();
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
                if wave.outstanding.remove(&agent) && wave.outstanding.is_empty() {
                    self.advance(party, ev, &mut out);
                }
            }
            _ => {}
        }
        out
    }

    fn start_wave(&mut self, party: &Party, out: &mut Vec<Draft>) {
        let cities = &self.cities;
        let Some(sched) = self.parties.get_mut(&party.party_id) else {
            return;
        };
        let Some(cause) = sched.dirty.take() else {
            return;
        };
        let facts = extract_facts(&party.inputs, cities);
        let rel = relevance(party, &facts);
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
        let budget_forced = lost_cost || budget_sig != sched.last.get(&AgentName::Budget).copied();
        sched.last = rel.signatures;
        let removed_any = !out.is_empty();
        if plan.is_empty() && !budget_forced && !removed_any {
            // Nothing this wave would change.
            return;
        }
        sched.waves += 1;
        let theme_before = super::upstream_theme(party).map(str::to_string);
        sched.current = Some(Wave {
            number: sched.waves,
            plan,
            stage: 0,
            outstanding: BTreeSet::new(),
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
                out.push(Draft::caused_by(
                    trigger,
                    AgentName::InputAnalyzer.as_str(),
                    Payload::AgentShouldExecute(ShouldExecute {
                        agent_name: agent,
                        execution_type: p.execution_type,
                        input_ids: p.input_ids.clone(),
                        priority: agent.priority(),
                        reason: p.reason.clone(),
                        wave: wave.number,
                    }),
                ));
                wave.outstanding.insert(agent);
            }
            return;
        }
    }
}

fn input_ids_for(party: &Party, agent: AgentName, cities: &[String]) -> Vec<String> {
    let facts = extract_facts(&party.inputs, cities);
    relevance(party, &facts)
        .inputs
        .remove(&agent)
        .unwrap_or_default()
}
