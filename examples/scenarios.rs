//! Prints the plan of each of the prototype's scenarios (SPEC §9.2).
//! Run: `cargo run --example scenarios`.

use std::time::Duration;

use partybus::app::{NewInput, NewParty};
use partybus::{App, Config};

fn main() {
    let app = App::start_new(Config::default()).expect("start");
    let scenarios: [(&str, &[&str]); 3] = [
        (
            "jungle",
            &[
                "jungle theme party for 75 guests",
                "need a chocolate cake with animal decorations",
                "outdoor venue preferred, budget around $2000",
            ],
        ),
        (
            "princess",
            &[
                "princess castle theme party for 30 kids",
                "pink vanilla cake with crown topper",
            ],
        ),
        (
            "space",
            &[
                "space and astronaut theme party for 50 people",
                "galaxy-themed cake with planet decorations",
            ],
        ),
    ];
    for (name, texts) in scenarios {
        let ack = app
            .create_party(
                NewParty {
                    initial_inputs: texts
                        .iter()
                        .map(|t| NewInput {
                            content: t.to_string(),
                            ..NewInput::default()
                        })
                        .collect(),
                    ..NewParty::default()
                },
                None,
            )
            .expect("create");
        assert!(app.wait_settled(&ack.party_id, ack.seq, Duration::from_secs(10)));
        let party = app.party(&ack.party_id).expect("party");
        println!("== {name}");
        println!("{}", serde_json::to_string_pretty(&*party).expect("json"));
    }
    app.stop();
}
