//! `final_planner`: aggregates every result into the final plan.
//!
//! Areas and their weights in `completion_percent` (they sum to 100):
//!
//! | area | weight | done when |
//! |---|---|---|
//! | theme | 20 | the theme agent has a result |
//! | venue | 25 | the venue agent recommends at least one venue |
//! | guests | 10 | the inputs state a guest count |
//! | cake | 10 | the cake agent recommends at least one bakery |
//! | catering | 15 | the catering agent recommends at least one caterer |
//! | vendors | 10 | the vendor agent recommends a vendor in some category |
//! | budget | 10 | a total budget is stated AND the budget comes from actual results |
//!
//! `completion_percent` is the sum of the done weights, so it is monotone:
//! another result or another known fact can only add weight. `ready` = theme
//! and venue done (D10). Recommendations, next steps and the checklist name
//! the chosen suppliers; SPEC §6.6 strings are kept verbatim where they exist.
//!
//! A stated date or time is shown as a recommendation and a `confirm_date`
//! checklist item: nothing is booked, the person confirms it. When the budget
//! says no combination in the catalog fits (`Budget::fit`), the plan says by
//! how much the cheapest combination exceeds the budget and which area to cut.
//! Pure: no clock, no randomness.

use crate::domain::{
    AgentName, AgentOutput, Area, CakeResult, CateringResult, ChecklistItem, ChecklistSummary,
    FinalPlan, Priority, Recommendation, ThemeResult, VendorResult, VenueResult,
};

use super::AgentInput;

/// Weight of each area, in area order. Sums to 100.
pub(crate) const WEIGHTS: [(&str, u8); 7] = [
    ("theme", 20),
    ("venue", 25),
    ("guests", 10),
    ("cake", 10),
    ("catering", 15),
    ("vendors", 10),
    ("budget", 10),
];

/// Next steps listed at most.
const MAX_NEXT_STEPS: usize = 5;

/// The typed results the plan is built from.
struct Results<'a> {
    theme: Option<&'a ThemeResult>,
    venue: Option<&'a VenueResult>,
    cake: Option<&'a CakeResult>,
    catering: Option<&'a CateringResult>,
    vendor: Option<&'a VendorResult>,
}

impl<'a> Results<'a> {
    fn of(party: &'a crate::store::Party) -> Results<'a> {
        Results {
            theme: match party.result(AgentName::Theme) {
                Some(AgentOutput::Theme(t)) => Some(t),
                _ => None,
            },
            venue: match party.result(AgentName::Venue) {
                Some(AgentOutput::Venue(v)) => Some(v),
                _ => None,
            },
            cake: match party.result(AgentName::Cake) {
                Some(AgentOutput::Cake(c)) => Some(c),
                _ => None,
            },
            catering: match party.result(AgentName::Catering) {
                Some(AgentOutput::Catering(c)) => Some(c),
                _ => None,
            },
            vendor: match party.result(AgentName::Vendor) {
                Some(AgentOutput::Vendor(v)) => Some(v),
                _ => None,
            },
        }
    }

    fn has_vendor(&self) -> bool {
        self.vendor
            .is_some_and(|v| v.vendors_by_category.values().any(|l| !l.is_empty()))
    }
}

fn rec(category: &str, priority: Priority, description: String) -> Recommendation {
    Recommendation {
        category: category.to_string(),
        priority,
        description,
    }
}

fn task(id: String, category: &str, task: String) -> ChecklistItem {
    ChecklistItem {
        id,
        category: category.to_string(),
        task,
        done: false,
    }
}

/// The stated date and time, e.g. "March 15, 2–5 PM".
fn when(facts: &crate::agents::Facts) -> Option<String> {
    let parts: Vec<&str> = [facts.date.as_deref(), facts.time.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Computes the plan.
pub(crate) fn run(input: &AgentInput<'_>) -> FinalPlan {
    let party = input.party;
    let facts = input.facts;
    let r = Results::of(party);
    let budget = party.budget.as_deref();

    let theme_done = r.theme.is_some();
    let venue_done = r.venue.is_some_and(|v| !v.recommended_venues.is_empty());
    let guests_done = facts.guest_count.is_some();
    let cake_done = r.cake.is_some_and(|c| !c.recommended_bakeries.is_empty());
    let catering_done = r
        .catering
        .is_some_and(|c| !c.recommended_caterers.is_empty());
    let vendors_done = r.has_vendor();
    let budget_done =
        facts.budget.is_some() && budget.is_some_and(|b| b.data_source == "actual_agent_results");
    let done = [
        theme_done,
        venue_done,
        guests_done,
        cake_done,
        catering_done,
        vendors_done,
        budget_done,
    ];
    let areas: Vec<Area> = WEIGHTS
        .iter()
        .zip(done)
        .map(|(&(area, weight), done)| Area {
            area: area.to_string(),
            weight,
            done,
        })
        .collect();
    let completion_percent = areas.iter().filter(|a| a.done).map(|a| a.weight).sum();

    // Recommendations, in area order.
    let mut recommendations = Vec::new();
    if let Some(t) = r.theme {
        let colors: Vec<&str> = t.colors.iter().take(3).map(String::as_str).collect();
        recommendations.push(rec(
            "Theme",
            Priority::High,
            format!(
                "Primary theme: {}. Colors: {}",
                t.primary_theme,
                colors.join(", ")
            ),
        ));
    }
    if let Some(v) = r.venue {
        match v.recommended_venues.first() {
            Some(top) => recommendations.push(rec(
                "Venue",
                Priority::Critical,
                format!(
                    "Top recommendation: {} (capacity: {}, price: ${})",
                    top.record.name, top.record.capacity, top.record.daily_price
                ),
            )),
            None => recommendations.push(rec(
                "Venue",
                Priority::Critical,
                v.note
                    .clone()
                    .unwrap_or_else(|| "No venue matches your requirements".to_string()),
            )),
        }
    }
    if let Some(c) = r.cake.filter(|c| !c.recommended_bakeries.is_empty()) {
        recommendations.push(rec(
            "Cake",
            Priority::Medium,
            format!(
                "Found {} bakery options. Estimated cost: ${}-${}",
                c.recommended_bakeries.len(),
                c.estimated_cost.min,
                c.estimated_cost.max
            ),
        ));
    }
    if let Some(c) = r.catering.filter(|c| !c.recommended_caterers.is_empty()) {
        recommendations.push(rec(
            "Catering",
            Priority::Medium,
            format!(
                "Found {} caterer options. Estimated cost: ${}-${}",
                c.recommended_caterers.len(),
                c.estimated_total_cost.min,
                c.estimated_total_cost.max
            ),
        ));
    }
    if let Some(v) = r.vendor.filter(|_| vendors_done) {
        let n: usize = v.vendors_by_category.values().map(Vec::len).sum();
        recommendations.push(rec(
            "Vendors",
            Priority::Medium,
            format!(
                "Found {n} vendor options. Estimated cost: ${}-${}",
                v.estimated_cost.min, v.estimated_cost.max
            ),
        ));
    }
    if let Some(b) = budget {
        recommendations.push(rec(
            "Budget",
            Priority::High,
            format!(
                "Estimated total: ${}-${}",
                b.total_budget.min, b.total_budget.max
            ),
        ));
        if let (true, Some(s)) = (b.over_budget, b.stated_budget) {
            recommendations.push(rec(
                "Budget",
                Priority::Critical,
                format!(
                    "Over your ${s} budget by ${} at the low end",
                    b.total_budget.min.saturating_sub(s)
                ),
            ));
        }
    }
    if let Some(f) = budget.and_then(|b| b.fit.as_ref()).filter(|f| !f.fits) {
        let cut = f
            .cut_area
            .as_ref()
            .map(|a| format!("; cut the {a} first or raise the budget"))
            .unwrap_or_default();
        recommendations.push(rec(
            "Budget",
            Priority::Critical,
            format!(
                "No combination in the catalog fits your ${} budget: the cheapest plan costs ${}, ${} over{cut}",
                f.budget, f.cheapest_total, f.overrun
            ),
        ));
    }
    let when = when(facts);
    if let Some(when) = &when {
        recommendations.push(rec(
            "Date",
            Priority::High,
            format!("Planned for {when} (not booked yet: confirm it with each supplier)"),
        ));
    }
    if recommendations.is_empty() {
        recommendations.push(rec(
            "General",
            Priority::Medium,
            "Add more details to get personalized recommendations".to_string(),
        ));
    }

    // Next steps: what is missing first, then what to do with what is planned.
    let mut next_steps: Vec<String> = Vec::new();
    if !theme_done {
        next_steps
            .push("Add theme information (e.g., 'jungle theme', 'princess party')".to_string());
    }
    if !guests_done {
        next_steps.push("Specify guest count (e.g., '75 guests')".to_string());
    }
    if r.venue.is_none() {
        next_steps.push("Specify guest count and preferred location".to_string());
    } else if !venue_done {
        next_steps.push(
            "Relax venue requirements (guest count, budget or city) to find a venue".to_string(),
        );
    }
    if r.cake.is_none() {
        next_steps.push("Add cake preferences (flavor, size, design)".to_string());
    } else if !cake_done {
        next_steps.push(
            "Relax cake requirements (budget, size or dietary needs) to find a bakery".to_string(),
        );
    }
    if r.catering.is_none() {
        next_steps.push("Specify food preferences and dietary requirements".to_string());
    } else if !catering_done {
        next_steps.push(
            "Relax catering requirements (budget or guest count) to find a caterer".to_string(),
        );
    }
    if r.vendor.is_none() {
        next_steps.push("Add vendor needs (decorations, entertainment, photography)".to_string());
    } else if !vendors_done {
        next_steps.push("Raise the vendor budget or change categories to find vendors".to_string());
    }
    if facts.budget.is_none() {
        next_steps.push("State your total budget (e.g., 'budget around $2000')".to_string());
    }
    if let Some(b) = budget.filter(|b| b.over_budget && !b.swaps.is_empty()) {
        next_steps.push(format!(
            "Review {} cheaper swaps to fit your budget",
            b.swaps.len()
        ));
    }
    if let Some(f) = budget.and_then(|b| b.fit.as_ref()).filter(|f| !f.fits) {
        next_steps.push(match &f.cut_area {
            Some(a) => format!(
                "Cut the {a} or raise the budget by ${} so the plan fits",
                f.overrun
            ),
            None => format!("Raise the budget by ${} so the plan fits", f.overrun),
        });
    }
    if let Some(when) = &when {
        next_steps.push(format!("Confirm the date with the suppliers: {when}"));
    }
    if theme_done {
        next_steps.push("Review theme colors and decorations".to_string());
    }
    if venue_done {
        next_steps.push("Compare venue options and book preferred location".to_string());
    }
    if cake_done {
        next_steps.push("Contact bakery to discuss custom design".to_string());
    }
    if catering_done {
        next_steps.push("Confirm menu and headcount with the caterer".to_string());
    }
    if vendors_done {
        next_steps.push("Request quotes from the recommended vendors".to_string());
    }
    if next_steps.is_empty() {
        next_steps.push("Add more party details to get started".to_string());
    }
    next_steps.truncate(MAX_NEXT_STEPS);

    // Checklist: concrete tasks naming the chosen suppliers.
    let mut checklist = Vec::new();
    if let Some((v, top)) = r
        .venue
        .and_then(|v| v.recommended_venues.first().map(|t| (v, t)))
    {
        checklist.push(task(
            "book_venue".into(),
            "venue",
            format!(
                "Book {} for {} guests",
                top.record.name, v.search_criteria.guest_count
            ),
        ));
    }
    if let Some((c, top)) = r
        .cake
        .and_then(|c| c.recommended_bakeries.first().map(|t| (c, t)))
    {
        checklist.push(task(
            "order_cake".into(),
            "cake",
            format!(
                "Order a {} {} cake from {}",
                c.size_recommendation, c.cake_style, top.record.name
            ),
        ));
    }
    if let Some((c, top)) = r
        .catering
        .and_then(|c| c.recommended_caterers.first().map(|t| (c, t)))
    {
        checklist.push(task(
            "book_caterer".into(),
            "catering",
            format!(
                "Book {} to cater for {} guests",
                top.record.name, c.guest_count
            ),
        ));
    }
    if let Some(v) = r.vendor {
        for (category, vendors) in &v.vendors_by_category {
            if let Some(top) = vendors.first() {
                checklist.push(task(
                    format!("book_{category}"),
                    "vendors",
                    format!("Book {} for {category}", top.record.name),
                ));
            }
        }
    }
    if let Some(g) = facts.guest_count {
        checklist.push(task(
            "send_invitations".into(),
            "guests",
            format!("Send invitations to {g} guests"),
        ));
    }
    if let Some(t) = r.theme {
        checklist.push(task(
            "buy_decorations".into(),
            "theme",
            format!(
                "Buy {} decorations: {}",
                t.primary_theme,
                t.decorations.join(", ")
            ),
        ));
    }
    if let Some(when) = &when {
        let what = match (&facts.date, &facts.time) {
            (Some(_), _) => "date",
            _ => "time",
        };
        checklist.push(task(
            "confirm_date".into(),
            "date",
            format!("Confirm the {what}: {when}"),
        ));
    }
    if let Some(b) = budget {
        let against = facts
            .budget
            .map(|s| format!(" against your ${s} budget"))
            .unwrap_or_default();
        checklist.push(task(
            "confirm_budget".into(),
            "budget",
            format!(
                "Confirm the estimated total of ${}-${}{against}",
                b.total_budget.min, b.total_budget.max
            ),
        ));
    }
    let total = u32::try_from(checklist.len()).unwrap_or(u32::MAX);
    let completed = u32::try_from(checklist.iter().filter(|t| t.done).count()).unwrap_or(0);

    FinalPlan {
        completion_percent,
        areas,
        recommendations,
        next_steps,
        active_agents: AgentName::DOMAIN
            .iter()
            .filter(|a| party.result(**a).is_some())
            .map(|a| a.as_str().to_string())
            .collect(),
        missing_agents: AgentName::DOMAIN
            .iter()
            .filter(|a| party.result(**a).is_none())
            .map(|a| a.as_str().to_string())
            .collect(),
        checklist,
        checklist_summary: ChecklistSummary {
            total_tasks: total,
            completed_tasks: completed,
            pending_tasks: total - completed,
        },
        facts: facts.plan_facts(&party.inputs),
        ready: theme_done && venue_done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::testutil::{agent_input, catalog, facts, party, set_budget, set_result};
    use crate::agents::{budget, cake, catering, theme, vendor, venue, Facts};
    use crate::store::Party;

    fn plan(p: &Party, f: &Facts) -> FinalPlan {
        let c = catalog();
        run(&agent_input(p, f, &c))
    }

    /// Runs `agent` on the party as it stands and stores its result.
    fn complete(p: &mut Party, f: &Facts, agent: AgentName) {
        let c = catalog();
        let i = agent_input(p, f, &c);
        let out = match agent {
            AgentName::Venue => AgentOutput::Venue(venue::run(&i)),
            AgentName::Cake => AgentOutput::Cake(cake::run(&i)),
            AgentName::Catering => AgentOutput::Catering(catering::run(&i)),
            AgentName::Vendor => AgentOutput::Vendor(vendor::run(&i)),
            _ => AgentOutput::Theme(jungle()),
        };
        set_result(p, agent, out);
    }

    fn jungle() -> ThemeResult {
        let spec = theme::spec("jungle");
        ThemeResult {
            primary_theme: "jungle".into(),
            theme_scores: [("jungle".to_string(), 4)].into(),
            confidence: 0.4,
            colors: spec.colors.iter().map(|s| s.to_string()).collect(),
            decorations: spec.decorations.iter().map(|s| s.to_string()).collect(),
            activities: spec.activities.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn refresh_budget(p: &mut Party, f: &Facts) {
        let c = catalog();
        let b = budget::run(&agent_input(p, f, &c));
        set_budget(p, b);
    }

    #[test]
    fn weights_sum_to_100() {
        assert_eq!(WEIGHTS.iter().map(|w| u32::from(w.1)).sum::<u32>(), 100);
    }

    #[test]
    fn empty_party() {
        let p = party(&[]);
        let plan = plan(&p, &Facts::default());
        assert_eq!(plan.completion_percent, 0);
        assert!(!plan.ready);
        assert_eq!(plan.recommendations.len(), 1);
        assert_eq!(plan.recommendations[0].category, "General");
        assert_eq!(plan.recommendations[0].priority, Priority::Medium);
        assert_eq!(
            plan.recommendations[0].description,
            "Add more details to get personalized recommendations"
        );
        assert_eq!(
            plan.next_steps,
            [
                "Add theme information (e.g., 'jungle theme', 'princess party')",
                "Specify guest count (e.g., '75 guests')",
                "Specify guest count and preferred location",
                "Add cake preferences (flavor, size, design)",
                "Specify food preferences and dietary requirements",
            ]
        );
        assert!(plan.active_agents.is_empty());
        assert_eq!(
            plan.missing_agents,
            [
                "theme_agent",
                "venue_agent",
                "cake_agent",
                "catering_agent",
                "vendor_agent"
            ]
        );
        assert!(plan.checklist.is_empty());
        assert_eq!(plan.checklist_summary.total_tasks, 0);
    }

    #[test]
    fn completion_is_monotone_and_strings_exact() {
        let f = facts(Some(75), Some(100_000));
        let mut p = party(&[("jungle theme party for 75 guests", &[])]);
        let mut last = plan(&p, &f).completion_percent;
        assert_eq!(last, 10); // guests known
        for agent in [
            AgentName::Theme,
            AgentName::Venue,
            AgentName::Cake,
            AgentName::Catering,
            AgentName::Vendor,
        ] {
            complete(&mut p, &f, agent);
            refresh_budget(&mut p, &f);
            let now = plan(&p, &f).completion_percent;
            assert!(now >= last, "{agent}: {now} < {last}");
            last = now;
        }
        assert_eq!(last, 100);
        let plan = plan(&p, &f);
        assert!(plan.ready);
        assert_eq!(
            plan.active_agents,
            [
                "theme_agent",
                "venue_agent",
                "cake_agent",
                "catering_agent",
                "vendor_agent"
            ]
        );
        assert!(plan.missing_agents.is_empty());
        let rec0 = &plan.recommendations[0];
        assert_eq!(
            (
                rec0.category.as_str(),
                rec0.priority,
                rec0.description.as_str()
            ),
            (
                "Theme",
                Priority::High,
                "Primary theme: jungle. Colors: green, brown, yellow"
            )
        );
        let Some(AgentOutput::Venue(v)) = p.result(AgentName::Venue) else {
            panic!("venue missing")
        };
        let top = &v.recommended_venues[0].record;
        assert_eq!(plan.recommendations[1].priority, Priority::Critical);
        assert_eq!(
            plan.recommendations[1].description,
            format!(
                "Top recommendation: {} (capacity: {}, price: ${})",
                top.name, top.capacity, top.daily_price
            )
        );
        let Some(AgentOutput::Cake(c)) = p.result(AgentName::Cake) else {
            panic!("cake missing")
        };
        assert_eq!(
            plan.recommendations[2].description,
            format!(
                "Found {} bakery options. Estimated cost: ${}-${}",
                c.recommended_bakeries.len(),
                c.estimated_cost.min,
                c.estimated_cost.max
            )
        );
        let b = p.budget.as_deref().map(|b| b.total_budget.clone());
        let b = b.unwrap_or_else(|| panic!("no budget"));
        let budget_rec = plan.recommendations.iter().find(|r| r.category == "Budget");
        assert_eq!(
            budget_rec.map(|r| r.description.clone()),
            Some(format!("Estimated total: ${}-${}", b.min, b.max))
        );
        assert_eq!(
            &plan.next_steps[..3],
            [
                "Review theme colors and decorations",
                "Compare venue options and book preferred location",
                "Contact bakery to discuss custom design",
            ]
        );
        let ids: Vec<&str> = plan.checklist.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(&ids[..3], ["book_venue", "order_cake", "book_caterer"]);
        assert!(ids.contains(&"book_decorations"));
        assert!(ids.ends_with(&["send_invitations", "buy_decorations", "confirm_budget"]));
        assert_eq!(
            plan.checklist[0].task,
            format!("Book {} for 75 guests", top.name)
        );
        let inv = plan.checklist.iter().find(|t| t.id == "send_invitations");
        assert_eq!(
            inv.map(|t| t.task.as_str()),
            Some("Send invitations to 75 guests")
        );
        assert_eq!(
            plan.checklist_summary.total_tasks as usize,
            plan.checklist.len()
        );
        assert_eq!(plan.checklist_summary.completed_tasks, 0);
        assert_eq!(
            plan.checklist_summary.pending_tasks as usize,
            plan.checklist.len()
        );
        assert!(plan.checklist.iter().all(|t| !t.done));
    }

    #[test]
    fn theme_and_venue_only() {
        let f = facts(None, None);
        let mut p = party(&[("jungle theme party", &[])]);
        complete(&mut p, &f, AgentName::Theme);
        complete(&mut p, &f, AgentName::Venue);
        let plan = plan(&p, &f);
        assert_eq!(plan.completion_percent, 45);
        assert!(plan.ready);
        assert_eq!(
            plan.next_steps,
            [
                "Specify guest count (e.g., '75 guests')",
                "Add cake preferences (flavor, size, design)",
                "Specify food preferences and dietary requirements",
                "Add vendor needs (decorations, entertainment, photography)",
                "State your total budget (e.g., 'budget around $2000')",
            ]
        );
        assert_eq!(
            plan.missing_agents,
            ["cake_agent", "catering_agent", "vendor_agent"]
        );
    }

    #[test]
    fn over_budget_critical_recommendation() {
        let f = facts(Some(75), Some(100));
        let mut p = party(&[("party", &[])]);
        complete(&mut p, &f, AgentName::Cake);
        let mut bigger = facts(Some(75), None);
        bigger.budget = None;
        complete(&mut p, &bigger, AgentName::Catering);
        refresh_budget(&mut p, &f);
        let plan = plan(&p, &f);
        let b = p.budget.as_deref().unwrap_or_else(|| panic!("no budget"));
        assert!(b.over_budget);
        let crit = plan
            .recommendations
            .iter()
            .find(|r| r.category == "Budget" && r.priority == Priority::Critical);
        assert_eq!(
            crit.map(|r| r.description.clone()),
            Some(format!(
                "Over your $100 budget by ${} at the low end",
                b.total_budget.min - 100
            ))
        );
        assert!(plan.next_steps.len() <= MAX_NEXT_STEPS);
    }

    #[test]
    fn deterministic() {
        let f = facts(Some(30), Some(3000));
        let mut p = party(&[("party", &[])]);
        for a in AgentName::DOMAIN {
            complete(&mut p, &f, a);
        }
        refresh_budget(&mut p, &f);
        let a = serde_json::to_string(&plan(&p, &f)).ok();
        let b = serde_json::to_string(&plan(&p, &f)).ok();
        assert!(a.is_some());
        assert_eq!(a, b);
    }

    /// Runs the whole wave (theme, the four searches, budget, plan) on real
    /// inputs, with the analyzer's facts and the embedded catalog.
    fn wave(inputs: &[&str]) -> (Party, Facts, FinalPlan) {
        let c = catalog();
        let ins: Vec<(&str, &[&str])> = inputs.iter().map(|s| (*s, &[][..])).collect();
        let mut p = party(&ins);
        let f = crate::agents::analyzer::extract_facts(&p.inputs, &c.cities);
        let t = theme::run(&agent_input(&p, &f, &c));
        set_result(&mut p, AgentName::Theme, AgentOutput::Theme(t));
        for a in [
            AgentName::Venue,
            AgentName::Cake,
            AgentName::Catering,
            AgentName::Vendor,
        ] {
            complete(&mut p, &f, a);
        }
        refresh_budget(&mut p, &f);
        let plan = plan(&p, &f);
        (p, f, plan)
    }

    #[test]
    fn scenario_jungle_end_to_end() {
        let (p, f, plan) = wave(&[
            "jungle theme party for 75 guests",
            "need a chocolate cake with animal decorations",
            "outdoor venue preferred, budget around $2000",
        ]);
        assert_eq!((f.guest_count, f.budget), (Some(75), Some(2000)));
        let Some(AgentOutput::Theme(t)) = p.result(AgentName::Theme) else {
            panic!("theme missing")
        };
        assert_eq!((t.primary_theme.as_str(), t.confidence), ("jungle", 0.8));
        let Some(AgentOutput::Venue(v)) = p.result(AgentName::Venue) else {
            panic!("venue missing")
        };
        assert!(!v.recommended_venues.is_empty());
        for venue in &v.recommended_venues {
            assert!(venue.record.capacity >= 75 && venue.record.daily_price <= 2000);
        }
        assert!(plan.ready);
        assert_eq!(plan.completion_percent, 100);
        assert!(plan.next_steps.len() <= MAX_NEXT_STEPS);
        assert_eq!(
            plan.recommendations[0].description,
            "Primary theme: jungle. Colors: green, brown, yellow"
        );
        // Same party, same plan, byte for byte.
        let again = wave(&[
            "jungle theme party for 75 guests",
            "need a chocolate cake with animal decorations",
            "outdoor venue preferred, budget around $2000",
        ]);
        assert_eq!(
            serde_json::to_string(&plan).ok(),
            serde_json::to_string(&again.2).ok()
        );
    }

    #[test]
    fn scenario_tight_budget_end_to_end() {
        let (p, f, plan) =
            wave(&["superhero party for 40 kids, budget $800, vegan and nut-free food"]);
        assert_eq!(f.budget, Some(800));
        let b = p.budget.as_deref().unwrap_or_else(|| panic!("no budget"));
        if b.over_budget {
            assert!(b.recommendations[0].starts_with("Over your $800 budget by $"));
            assert!(plan
                .recommendations
                .iter()
                .any(|r| r.priority == Priority::Critical && r.category == "Budget"));
        }
        if let Some(AgentOutput::Catering(c)) = p.result(AgentName::Catering) {
            for cat in &c.recommended_caterers {
                for need in &f.dietary {
                    assert!(cat.record.dietary_options.contains(need));
                }
            }
        }
        for s in &b.swaps {
            assert!(s.saves > 0);
        }
    }

    #[test]
    fn stated_date_and_time_are_shown_not_booked() {
        let mut f = facts(Some(30), None);
        f.date = Some("March 15".into());
        f.time = Some("2–5 PM".into());
        let p = party(&[("party on March 15, 2-5 PM", &[])]);
        let plan = plan(&p, &f);
        let item = plan.checklist.iter().find(|t| t.id == "confirm_date");
        let item = item.unwrap_or_else(|| panic!("no confirm_date in {:?}", plan.checklist));
        assert_eq!(item.task, "Confirm the date: March 15, 2–5 PM");
        assert_eq!(item.category, "date");
        assert!(!item.done);
        let rec = plan.recommendations.iter().find(|r| r.category == "Date");
        assert_eq!(
            rec.map(|r| r.description.as_str()),
            Some("Planned for March 15, 2–5 PM (not booked yet: confirm it with each supplier)")
        );
        assert!(plan
            .next_steps
            .iter()
            .all(|s| !s.contains("March 15") || s.starts_with("Confirm the date")));
        // Only a time.
        f.date = None;
        let plan = super::run(&agent_input(&p, &f, &catalog()));
        let item = plan.checklist.iter().find(|t| t.id == "confirm_date");
        assert_eq!(
            item.map(|t| t.task.as_str()),
            Some("Confirm the time: 2–5 PM")
        );
        // Nothing stated: no item, and the weights are untouched.
        f.time = None;
        let plan = super::run(&agent_input(&p, &f, &catalog()));
        assert!(plan.checklist.iter().all(|t| t.id != "confirm_date"));
        assert!(plan.recommendations.iter().all(|r| r.category != "Date"));
        assert_eq!(plan.completion_percent, 10);
        assert_eq!(plan.facts, f.plan_facts(&p.inputs));
    }
}
