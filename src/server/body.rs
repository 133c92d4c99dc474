//! Request bodies: the JSON of `POST /party`, `POST …/party/{id}/input` and
//! `POST …/party/{id}/fork` decoded into the app's commands ([`NewParty`],
//! [`NewInput`], [`NewFork`]), every field
//! checked and a wrong one named in the error (`initial_inputs[1].tags[0]`).
//!
//! Owns the decoding and checking of those bodies. Pure: bytes in, a
//! command or an [`ApiError`] out; no I/O (`request::Body` reads
//! the bytes, with the size limit, the content type check and the
//! deadline). The app checks its own limits (content length, tags,
//! inputs per party) again before it publishes. Public so that the fuzz
//! targets in `fuzz/` drive exactly what the server runs. Never panics on
//! any input.

use serde_json::{Map, Value};

use super::error::ApiError;
use crate::app::{ForkChange, NewFork, NewInput, NewParty};
use crate::event::{self, SourceType};

/// Longest `user_id` accepted.
pub const MAX_USER_ID: usize = 128;

/// Decodes `POST /party`'s body (`None`: no body, the same as `{}`).
pub fn create_party(body: Option<&[u8]>) -> Result<NewParty, ApiError> {
    match body {
        None => parse_create(None),
        Some(bytes) => parse_create(Some(&json(bytes)?)),
    }
}

/// Decodes `POST …/party/{id}/input`'s body (`None`: no body, the same as
/// `{}`, which lacks the required `content`).
pub fn add_input(body: Option<&[u8]>) -> Result<NewInput, ApiError> {
    match body {
        None => parse_input(&Value::Object(Map::new()), ""),
        Some(bytes) => parse_input(&json(bytes)?, ""),
    }
}

/// Decodes `POST …/party/{id}/fork`'s body (`None`: no body, the same as
/// `{}`: a fork of the party as it is now, without changes).
pub fn fork_party(body: Option<&[u8]>) -> Result<NewFork, ApiError> {
    let Some(bytes) = body else {
        return Ok(NewFork::default());
    };
    let body = json(bytes)?;
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("body", "the body must be a JSON object"))?;
    let at_seq = match obj.get("at_seq") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError::invalid(
                "at_seq",
                "at_seq must be a non-negative integer (an event seq)",
            )
        })?),
    };
    let changes = match obj.get("changes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_change(v, i))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::invalid(
                "changes",
                "changes must be an array of {\"add\": {input}} or {\"remove\": \"<input_id>\"} objects",
            ))
        }
    };
    Ok(NewFork {
        party_id: party_id(obj)?,
        user_id: user_id(obj)?,
        at_seq,
        changes,
        token_sha256: None,
    })
}

/// One fork change: `{"add": {input}}` or `{"remove": "<input_id>"}`.
fn parse_change(v: &Value, i: usize) -> Result<ForkChange, ApiError> {
    let field = format!("changes[{i}]");
    let one_of = || {
        ApiError::invalid(
            &field,
            format!("{field} must be {{\"add\": {{input}}}} or {{\"remove\": \"<input_id>\"}}"),
        )
    };
    let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(one_of)?;
    match (obj.get("add"), obj.get("remove")) {
        (Some(input), None) => Ok(ForkChange::Add(parse_input(
            input,
            &format!("{field}.add"),
        )?)),
        (None, Some(Value::String(id))) if event::is_valid_id(id) => {
            Ok(ForkChange::Remove(id.clone()))
        }
        (None, Some(_)) => {
            let f = format!("{field}.remove");
            Err(ApiError::invalid(
                &f,
                format!("{f} must be an input id (1-64 characters of A-Z, a-z, 0-9, '_' or '-')"),
            ))
        }
        _ => Err(one_of()),
    }
}

/// Parses JSON; 400 `invalid_json` when malformed.
fn json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

/// Decodes `POST /party`'s body. No body means `{}`.
fn parse_create(body: Option<&Value>) -> Result<NewParty, ApiError> {
    let Some(body) = body else {
        return Ok(NewParty::default());
    };
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("body", "the body must be a JSON object"))?;
    let party_id = party_id(obj)?;
    let user_id = user_id(obj)?;
    let initial_inputs = match obj.get("initial_inputs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_input(v, &format!("initial_inputs[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::invalid(
                "initial_inputs",
                "initial_inputs must be an array of input objects",
            ))
        }
    };
    Ok(NewParty {
        party_id,
        user_id,
        initial_inputs,
        token_sha256: None,
    })
}

/// A client-chosen `party_id` (empty or absent: none).
fn party_id(obj: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match opt_str(obj, "party_id", "party_id")? {
        None | Some("") => Ok(None),
        Some(id) if event::is_valid_id(id) => Ok(Some(id.to_string())),
        Some(_) => Err(ApiError::invalid(
            "party_id",
            "party_id must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'",
        )),
    }
}

/// The acting `user_id` (empty or absent: none).
fn user_id(obj: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match opt_str(obj, "user_id", "user_id")? {
        None | Some("") => Ok(None),
        Some(u) if u.chars().count() <= MAX_USER_ID && !u.chars().any(char::is_control) => {
            Ok(Some(u.to_string()))
        }
        Some(_) => Err(ApiError::invalid(
            "user_id",
            format!("user_id must be at most {MAX_USER_ID} characters, without control characters"),
        )),
    }
}

/// Decodes one input object; `prefix` names it in errors (empty for the
/// add-input body itself).
fn parse_input(v: &Value, prefix: &str) -> Result<NewInput, ApiError> {
    let name = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let obj = v.as_object().ok_or_else(|| {
        if prefix.is_empty() {
            ApiError::invalid("body", "the body must be a JSON object")
        } else {
            ApiError::invalid(prefix, format!("{prefix} must be an object"))
        }
    })?;
    let content = match obj.get("content") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            let f = name("content");
            return Err(ApiError::invalid(&f, format!("{f} is required")));
        }
        Some(_) => {
            let f = name("content");
            return Err(ApiError::invalid(&f, format!("{f} must be a string")));
        }
    };
    let source_type = match opt_str(obj, "source_type", &name("source_type"))? {
        None => None,
        Some(s) => Some(SourceType::parse(s).ok_or_else(|| {
            let f = name("source_type");
            ApiError::invalid(
                &f,
                format!(
                    "{f} must be one of {} (got {s:?})",
                    SourceType::NAMES.join(", ")
                ),
            )
        })?),
    };
    let tags = match obj.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                Value::String(s) => Ok(s.clone()),
                _ => {
                    let f = format!("{}[{i}]", name("tags"));
                    Err(ApiError::invalid(&f, format!("{f} must be a string")))
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            let f = name("tags");
            return Err(ApiError::invalid(
                &f,
                format!("{f} must be an array of strings"),
            ));
        }
    };
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            let f = name("metadata");
            return Err(ApiError::invalid(&f, format!("{f} must be an object")));
        }
    };
    let image_url = opt_str(obj, "image_url", &name("image_url"))?.map(str::to_string);
    let input_id = match opt_str(obj, "input_id", &name("input_id"))? {
        None => None,
        Some(id) if event::is_valid_id(id) => Some(id.to_string()),
        Some(_) => {
            let f = name("input_id");
            return Err(ApiError::invalid(
                &f,
                format!("{f} must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"),
            ));
        }
    };
    Ok(NewInput {
        input_id,
        content,
        source_type,
        tags,
        metadata,
        image_url,
    })
}

/// An optional string field: absent or null → `None`; other types → 422.
fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("{field} must be a string"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::Validation { field, .. } => field,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn create_body_defaults_and_validates() {
        assert_eq!(parse_create(None).unwrap(), NewParty::default());
        let p = parse_create(Some(&json!({"party_id": "", "user_id": null}))).unwrap();
        assert_eq!(p.party_id, None);
        let e = parse_create(Some(&json!({"party_id": "a b"}))).unwrap_err();
        assert_eq!(field_of(e), "party_id");
        let e = parse_create(Some(&json!({"party_id": 5}))).unwrap_err();
        assert_eq!(field_of(e), "party_id");
        let e = parse_create(Some(&json!([1]))).unwrap_err();
        assert_eq!(field_of(e), "body");
        let e = parse_create(Some(
            &json!({"initial_inputs": [{"content": "a"}, {"content": "b", "source_type": "video"}]}),
        ))
        .unwrap_err();
        assert_eq!(field_of(e), "initial_inputs[1].source_type");
        let e = parse_create(Some(&json!({"initial_inputs": {"content": "a"}}))).unwrap_err();
        assert_eq!(field_of(e), "initial_inputs");
        let e = parse_create(Some(&json!({"user_id": "x".repeat(129)}))).unwrap_err();
        assert_eq!(field_of(e), "user_id");
    }

    #[test]
    fn input_body_is_checked_field_by_field() {
        let ok = parse_input(
            &json!({"content": " Jungle  party ", "source_type": "url", "tags": ["a"], "metadata": {"k": 1}, "image_url": "http://x"}),
            "",
        )
        .unwrap();
        assert_eq!(ok.content, " Jungle  party ");
        assert_eq!(ok.source_type, Some(SourceType::Url));
        assert_eq!(ok.tags, vec!["a".to_string()]);
        assert_eq!(ok.image_url.as_deref(), Some("http://x"));
        for (body, field) in [
            (json!({}), "content"),
            (json!({"content": 1}), "content"),
            (
                json!({"content": "x", "source_type": "video"}),
                "source_type",
            ),
            (json!({"content": "x", "source_type": 3}), "source_type"),
            (json!({"content": "x", "tags": "a"}), "tags"),
            (json!({"content": "x", "tags": ["a", 2]}), "tags[1]"),
            (json!({"content": "x", "metadata": []}), "metadata"),
            (json!({"content": "x", "image_url": false}), "image_url"),
            (json!({"content": "x", "input_id": "no spaces"}), "input_id"),
            (json!("text"), "body"),
        ] {
            assert_eq!(
                field_of(parse_input(&body, "").unwrap_err()),
                field,
                "{body}"
            );
        }
    }

    #[test]
    fn bytes_are_decoded_as_the_server_reads_them() {
        assert_eq!(create_party(None).unwrap(), NewParty::default());
        let p = create_party(Some(br#"{"initial_inputs": [{"content": "jungle"}]}"#)).unwrap();
        assert_eq!(p.initial_inputs[0].content, "jungle");
        assert!(matches!(
            create_party(Some(b"{\"party_id\": ")),
            Err(ApiError::InvalidJson(_))
        ));
        assert_eq!(field_of(add_input(None).unwrap_err()), "content");
        assert_eq!(
            add_input(Some(br#"{"content": "x"}"#)).unwrap().content,
            "x"
        );
        assert!(matches!(
            add_input(Some(b"nope")),
            Err(ApiError::InvalidJson(_))
        ));
    }

    #[test]
    fn fork_body_names_the_change_it_refuses() {
        assert_eq!(fork_party(None).unwrap(), NewFork::default());
        let f = fork_party(Some(
            br#"{"at_seq": 7, "party_id": "what-if", "changes": [{"remove": "inp_1"}, {"add": {"content": "50 guests"}}]}"#,
        ))
        .unwrap();
        assert_eq!(f.at_seq, Some(7));
        assert_eq!(f.party_id.as_deref(), Some("what-if"));
        assert_eq!(f.changes.len(), 2);
        assert_eq!(f.changes[0], ForkChange::Remove("inp_1".into()));
        assert!(matches!(&f.changes[1], ForkChange::Add(i) if i.content == "50 guests"));
        let field = |body: &str| match fork_party(Some(body.as_bytes())) {
            Err(ApiError::Validation { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(field(r#"{"at_seq": -1}"#), "at_seq");
        assert_eq!(field(r#"{"at_seq": 1.5}"#), "at_seq");
        assert_eq!(field(r#"{"changes": {}}"#), "changes");
        assert_eq!(
            field(r#"{"changes": [{"remove": "a", "add": {}}]}"#),
            "changes[0]"
        );
        assert_eq!(field(r#"{"changes": [{}]}"#), "changes[0]");
        assert_eq!(
            field(r#"{"changes": [{"remove": 3}]}"#),
            "changes[0].remove"
        );
        assert_eq!(
            field(r#"{"changes": [{"remove": "no spaces"}]}"#),
            "changes[0].remove"
        );
        assert_eq!(
            field(r#"{"changes": [{"add": {}}]}"#),
            "changes[0].add.content"
        );
        assert_eq!(field(r#"[]"#), "body");
    }
}
