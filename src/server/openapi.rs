//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the
//! route table ([`super::routes::ROUTES`]) so that every served route is
//! documented and nothing undocumented is served; the component schemas
//! describe every request body, response body and error.
//!
//! Owns the document only; it is built once at startup and must not be
//! edited by hand to describe a route the table lacks.

use serde_json::{json, Map, Value};

use super::error::Code;
use super::routes::{Access, BodyKind, RouteSpec, ROUTES};
use crate::event::{SourceType, Topic};

/// The document as a JSON value.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for spec in ROUTES {
        let item = paths
            .entry(spec.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(ops) = item {
            ops.insert(spec.method.as_str().to_ascii_lowercase(), operation(spec));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "partybus",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Plans parties with event-driven agents and streams every step live. \
                Every error is JSON `{\"success\": false, \"detail\": \"...\", \"code\": \"...\"}` \
                (plus `field` for 422). Every response carries `X-Request-Id` (the client's, if it \
                sent a valid one); that id is the `correlation_id` of the events the request causes. \
                Any path not listed answers 404 `not_found`; a listed path called with another method \
                answers 405 `method_not_allowed` with an `Allow` header. HEAD is accepted wherever GET is. \
                Bodies over 64 KiB get 413 without being read whole. \
                CORS is cross-cutting and so not listed per operation: a preflight (`OPTIONS` with `Origin` \
                and `Access-Control-Request-Method`) is answered on every path, without a token and counted \
                as a read. By default only same-origin pages may call the API: every preflight gets 403 \
                `cors_origin_not_allowed` and no response carries `Access-Control-*` headers. For an origin \
                allowed with `--cors-origin`, a preflight is routed like the request it announces (unknown \
                path: 404 `not_found`; a method the path does not serve: 405 `method_not_allowed`) and \
                otherwise gets 204 with `Access-Control-Allow-Methods` (the methods the path serves), \
                `Access-Control-Allow-Headers` and `Access-Control-Max-Age`; every response to that origin carries \
                `Access-Control-Allow-Origin` (the origin echoed), `Access-Control-Expose-Headers` and \
                `Vary: Origin`. Any other `OPTIONS` gets 405. A WebSocket handshake whose `Origin` is \
                neither the server's own (matching `Host`) nor allowed gets 403 `cors_origin_not_allowed`.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "paths": paths,
        "components": components(),
    })
}

/// The document, serialised.
pub(crate) fn document_bytes() -> Vec<u8> {
    serde_json::to_vec(&document()).unwrap_or_default()
}

fn operation(spec: &RouteSpec) -> Value {
    let mut params: Vec<Value> = Vec::new();
    for name in path_params(spec.path) {
        params.push(json!({
            "name": name,
            "in": "path",
            "required": true,
            "schema": {"$ref": "#/components/schemas/Id"},
        }));
    }
    for (name, description) in spec.query {
        let schema = match *name {
            "since" => json!({"type": "integer", "minimum": 0, "default": 0}),
            "limit" => json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
            "format" => json!({"type": "string", "enum": ["json", "csv"], "default": "json"}),
            _ => json!({"type": "string"}),
        };
        params.push(json!({
            "name": name,
            "in": "query",
            "required": false,
            "description": description,
            "schema": schema,
        }));
    }
    if reads_after(spec) {
        params.push(json!({"$ref": "#/components/parameters/PartybusAfter"}));
    }
    if spec.path.contains("{other_id}") {
        params.push(json!({"$ref": "#/components/parameters/OtherToken"}));
    }
    params.push(json!({"$ref": "#/components/parameters/RequestId"}));

    let mut responses = Map::new();
    let success = match spec.response {
        "text" => json!({
            "description": "OK",
            "headers": request_id_header(),
            "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
        }),
        kind @ ("html" | "javascript" | "css") => {
            let media = super::web::media_type(kind);
            json!({
                "description": "OK (embedded in the binary; `ETag` and `Cache-Control: no-cache`, \
                    so a conditional request with `If-None-Match` gets 304)",
                "headers": request_id_header(),
                "content": {media: {"schema": {"type": "string"}}},
            })
        }
        "WebSocketMessage" => json!({
            "description": "Switching Protocols: the connection becomes a WebSocket carrying \
                `WebSocketMessage` frames (first a `connection` message, then replayed and live events).",
            "headers": request_id_header(),
        }),
        "PartyExport" => json!({
            "description": "OK: JSON by default; with `format=csv` a CSV table \
                (`section,category,item,min,max,done,note`; sections `budget`, `checklist`, `next_step`).",
            "headers": request_id_header(),
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PartyExport"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }),
        name => json!({
            "description": "OK",
            "headers": request_id_header(),
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}},
        }),
    };
    responses.insert(spec.success.to_string(), success);
    if matches!(spec.response, "html" | "javascript" | "css") {
        responses.insert(
            "304".to_string(),
            json!({
                "description": "Not Modified: the `If-None-Match` ETag is current; no body",
                "headers": request_id_header(),
            }),
        );
    }
    let mut codes: Vec<Code> = spec.errors.to_vec();
    codes.extend(Code::GLOBAL);
    if reads_after(spec) {
        // `X-Partybus-After`: malformed or past the latest event (one
        // machine), or not reached in time (a cluster node).
        codes.extend([Code::ValidationError, Code::CatchingUp]);
    }
    codes.sort();
    codes.dedup();
    let mut by_status: std::collections::BTreeMap<u16, Vec<Code>> = Default::default();
    for c in codes {
        by_status.entry(c.status()).or_default().push(c);
    }
    for (status, codes) in by_status {
        let description = codes
            .iter()
            .map(|c| format!("`{}`: {}", c.as_str(), c.meaning()))
            .collect::<Vec<_>>()
            .join(" ");
        let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": description,
                "headers": request_id_header(),
                "content": {"application/json": {"schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Error"},
                        {"properties": {"code": {"enum": names}}},
                    ]
                }}},
            }),
        );
    }

    let mut op = json!({
        "operationId": operation_id(spec),
        "summary": spec.summary,
        "parameters": params,
        "responses": responses,
        "security": security(spec.access),
    });
    if let BodyKind::Json(schema) = spec.body {
        op["requestBody"] = json!({
            "required": false,
            "description": "JSON (`Content-Type: application/json`), at most 64 KiB. \
                An empty body counts as `{}`.",
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
        });
    }
    op
}

fn operation_id(spec: &RouteSpec) -> String {
    let s = format!("{:?}", spec.id);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 0 {
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn security(access: Access) -> Value {
    match access {
        Access::Public => json!([]),
        Access::Party => json!([{"bearerToken": []}, {"queryToken": []}]),
        Access::Admin => json!([{"bearerToken": []}, {"queryToken": []}, {}]),
    }
}

/// Whether the route honours `X-Partybus-After` (every party route but the
/// WebSocket, which resumes with `since`).
fn reads_after(spec: &RouteSpec) -> bool {
    spec.path.contains("{party_id}") && spec.response != "WebSocketMessage"
}

fn path_params(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn request_id_header() -> Value {
    json!({"X-Request-Id": {"$ref": "#/components/headers/RequestId"}})
}

fn components() -> Value {
    let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    let topics: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
    let source_types: Vec<&str> = SourceType::NAMES.to_vec();
    let range = json!({"$ref": "#/components/schemas/Range"});
    let nullable_str = json!({"type": ["string", "null"]});
    json!({
        "securitySchemes": {
            "bearerToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "The `party_token` returned by POST /party (or the admin token). \
                    Missing: 401 `unauthorized`; wrong: 403 `forbidden`. Off with `--auth off`.",
            },
            "queryToken": {
                "type": "apiKey",
                "in": "query",
                "name": "token",
                "description": "The same token as a query parameter, for WebSockets and browsers.",
            },
        },
        "parameters": {
            "RequestId": {
                "name": "X-Request-Id",
                "in": "header",
                "required": false,
                "description": "Echoed back; becomes the correlation_id of the events this request causes. \
                    1-128 of A-Z a-z 0-9 - _ . : (otherwise one is generated).",
                "schema": {"type": "string", "maxLength": 128},
            },
            "OtherToken": {
                "name": "X-Other-Token",
                "in": "header",
                "required": false,
                "description": "The token of the second party of a diff (`other_id`); not needed with the \
                    admin token. Missing: 401 `unauthorized`; wrong: 403 `forbidden`.",
                "schema": {"type": "string"},
            },
            "PartybusAfter": {
                "name": "X-Partybus-After",
                "in": "header",
                "required": false,
                "description": "Read your writes across cluster nodes: the `seq` a write answered with. \
                    The request is served once this node has applied it (a cluster node waits up to 2 s, \
                    then answers 503 `catching_up`); on one machine a `seq` beyond the latest event is 422. \
                    `?after=` works the same.",
                "schema": {"type": "integer", "minimum": 0},
            },
        },
        "headers": {
            "RequestId": {
                "description": "The request id (the client's, or a generated `corr_` id).",
                "schema": {"type": "string"},
            },
        },
        "schemas": schemas(&Vars { codes, topics, source_types, range, nullable_str }),
    })
}

/// Values shared by the schema chunks.
struct Vars {
    codes: Vec<&'static str>,
    topics: Vec<&'static str>,
    source_types: Vec<&'static str>,
    range: Value,
    nullable_str: Value,
}

/// Every component schema (built in chunks: `json!` has a recursion limit).
fn schemas(v: &Vars) -> Value {
    let mut all = Map::new();
    for chunk in [
        schemas_0(v),
        schemas_1(v),
        schemas_2(v),
        schemas_3(v),
        schemas_4(v),
        schemas_5(v),
        schemas_diff(),
        schemas_digest(),
    ] {
        if let Value::Object(m) = chunk {
            all.extend(m);
        }
    }
    all.insert(
        "OpenApiDocument".to_string(),
        json!({"type": "object", "description": "This document."}),
    );
    Value::Object(all)
}

fn schemas_0(v: &Vars) -> Value {
    let Vars {
        codes,
        topics,
        source_types,
        range,
        nullable_str,
    } = v;
    let _ = (codes, topics, source_types, range, nullable_str);
    json!({
            "Id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "Error": {
                "type": "object",
                "required": ["success", "detail", "code"],
                "properties": {
                    "success": {"const": false},
                    "detail": {"type": "string", "description": "Human-readable message."},
                    "code": {"type": "string", "enum": codes, "description": "Stable machine-readable code."},
                    "field": {"type": "string", "description": "For 422: the offending field, e.g. `initial_inputs[1].source_type`."},
                },
            },
            "InputRequest": {
                "type": "object",
                "required": ["content"],
                "properties": {
                    "content": {"type": "string", "description": "Stored verbatim."},
                    "source_type": {"type": ["string", "null"], "enum": [source_types[0], source_types[1], source_types[2], source_types[3], null], "default": "text"},
                    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
                    "metadata": {"type": ["object", "null"]},
                    "image_url": nullable_str,
                    "input_id": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "Client-chosen id; default `inp_` + 8 hex. A duplicate gets 409."},
                },
            },
            "AddInputRequest": {"$ref": "#/components/schemas/InputRequest"},
    })
}

fn schemas_1(v: &Vars) -> Value {
    let Vars {
        codes,
        topics,
        source_types,
        range,
        nullable_str,
    } = v;
    let _ = (codes, topics, source_types, range, nullable_str);
    json!({
            "CreatePartyRequest": {
                "type": "object",
                "properties": {
                    "party_id": {"type": ["string", "null"], "pattern": "^([A-Za-z0-9_-]{1,64})?$", "description": "Client-chosen id; empty or absent: `fp` + year + 8 uppercase hex. A duplicate gets 409."},
                    "initial_inputs": {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/InputRequest"}},
                    "user_id": {"type": ["string", "null"], "maxLength": 128, "description": "Creator; also `added_by` of the initial inputs."},
                },
            },
            "CreatePartyResponse": {
                "type": "object",
                "required": ["success", "party_id", "party_token", "input_ids", "message", "websocket_url", "status_url", "seq"],
                "properties": {
                    "success": {"const": true},
                    "party_id": {"type": "string"},
                    "party_token": {"type": "string", "description": "128-bit hex access token; shown once, only its hash is stored."},
                    "input_ids": {"type": "array", "items": {"type": "string"}},
                    "message": {"type": "string"},
                    "websocket_url": {"type": "string", "description": "The party's WebSocket stream, <base>/api/v1/event-driven/ws/<party_id>. The base is the server's --public-url (with https as wss, and its path prefix kept) when set; else ws:// (wss:// when a trusted proxy forwards https) and the Host header (or the X-Forwarded-Host / Forwarded host= of a trusted proxy)."},
                    "status_url": {"type": "string", "description": "The party's status, <base>/api/v1/event-driven/party/<party_id>/status, on the same base as websocket_url with http:// or https://."},
                    "seq": {"type": "integer", "description": "seq of the command's last event."},
                },
            },
            "AddInputResponse": {
                "type": "object",
                "required": ["success", "party_id", "input_id", "message", "seq"],
                "properties": {
                    "success": {"const": true},
                    "party_id": {"type": "string"},
                    "input_id": {"type": "string"},
                    "message": {"type": "string"},
                    "seq": {"type": "integer"},
                },
            },
            "RemoveInputResponse": {"$ref": "#/components/schemas/AddInputResponse"},
            "ForkPartyRequest": {
                "type": "object",
                "properties": {
                    "at_seq": {"type": ["integer", "null"], "minimum": 0, "description": "Start from the party's events up to this seq (default: all of them). Planning under way at that seq is planned again in the fork; a seq before the party existed, or after the latest event, is 422."},
                    "changes": {"type": ["array", "null"], "description": "Applied in order after the copy.", "items": {"oneOf": [
                        {"type": "object", "required": ["add"], "additionalProperties": false, "properties": {"add": {"$ref": "#/components/schemas/InputRequest"}}},
                        {"type": "object", "required": ["remove"], "additionalProperties": false, "properties": {"remove": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "An input id of the fork (the original's input ids are kept)."}}},
                    ]}},
                    "party_id": {"type": ["string", "null"], "pattern": "^([A-Za-z0-9_-]{1,64})?$", "description": "Client-chosen id for the fork; a duplicate gets 409."},
                    "user_id": {"type": ["string", "null"], "maxLength": 128, "description": "Who forks; also `added_by` of the inputs the changes add."},
                },
            },
            "ForkedFrom": {
                "type": "object",
                "required": ["party_id", "seq"],
                "properties": {
                    "party_id": {"type": "string"},
                    "seq": {"type": "integer", "description": "The original's events up to this seq are the fork's start."},
                },
            },
            "ForkPartyResponse": {
                "type": "object",
                "required": ["success", "party_id", "party_token", "input_ids", "message", "websocket_url", "status_url", "seq", "forked_from", "copied_results"],
                "properties": {
                    "success": {"const": true},
                    "party_id": {"type": "string", "description": "The fork."},
                    "party_token": {"type": "string", "description": "The fork's own 128-bit hex access token."},
                    "input_ids": {"type": "array", "items": {"type": "string"}, "description": "Ids of the inputs the changes added."},
                    "message": {"type": "string"},
                    "websocket_url": {"type": "string"},
                    "status_url": {"type": "string"},
                    "seq": {"type": "integer"},
                    "forked_from": {"$ref": "#/components/schemas/ForkedFrom"},
                    "copied_results": {"type": "array", "items": {"type": "string"}, "description": "Agents whose results were copied from the original (as `party.agent.completed` with `reused_from`); those the changes concern run again."},
                },
            },
    })
}

fn schemas_2(v: &Vars) -> Value {
    let Vars {
        codes,
        topics,
        source_types,
        range,
        nullable_str,
    } = v;
    let _ = (codes, topics, source_types, range, nullable_str);
    json!({
            "RotateTokenResponse": {
                "type": "object",
                "required": ["success", "party_id", "party_token", "message", "seq"],
                "properties": {
                    "success": {"const": true},
                    "party_id": {"type": "string"},
                    "party_token": {"type": "string", "description": "The new token (128 random bits, hex); shown once."},
                    "message": {"type": "string"},
                    "seq": {"type": "integer"},
                },
            },
            "DeletePartyResponse": {
                "type": "object",
                "required": ["success", "party_id", "message", "seq"],
                "properties": {
                    "success": {"const": true},
                    "party_id": {"type": "string"},
                    "message": {"type": "string"},
                    "seq": {"type": "integer"},
                },
            },
            "Range": {
                "type": "object",
                "required": ["min", "max"],
                "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}, "note": nullable_str},
            },
            "Input": {
                "type": "object",
                "required": ["input_id", "content", "source_type", "tags", "added_at", "added_by", "metadata"],
                "properties": {
                    "input_id": {"type": "string"},
                    "content": {"type": "string"},
                    "source_type": {"type": "string", "enum": source_types},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "added_at": {"type": "string", "format": "date-time"},
                    "added_by": {"type": "string"},
                    "metadata": {"type": "object"},
                    "image_url": nullable_str,
                },
            },
            "AgentState": {
                "type": "object",
                "required": ["status", "confidence", "execution_time_ms", "result_summary", "result", "error", "execution_id", "started_at", "completed_at", "runs"],
                "properties": {
                    "status": {"type": "string", "enum": ["running", "completed", "failed"]},
                    "confidence": {"type": "number"},
                    "execution_time_ms": {"type": "number"},
                    "result_summary": {"type": "object", "description": "theme: {theme, confidence, colors}; venue: {venue_count, top_venue}; cake: {bakery_count, estimated_cost}; others: {has_result}."},
                    "result": {"type": ["object", "null"], "description": "The agent's full typed result."},
                    "error": {"type": ["object", "null"], "properties": {"error": {"type": "string"}, "error_type": {"type": "string", "enum": ["timeout", "validation", "external_api", "internal"]}}},
                    "execution_id": {"type": "string"},
                    "started_at": {"type": "string"},
                    "completed_at": nullable_str,
                    "runs": {"type": "integer"},
                    "reused_from": {"type": "string", "description": "In a fork: the event id of the original's party.agent.completed whose result this is; absent when the agent ran in this party."},
                },
            },
    })
}

fn schemas_3(v: &Vars) -> Value {
    let Vars {
        codes,
        topics,
        source_types,
        range,
        nullable_str,
    } = v;
    let _ = (codes, topics, source_types, range, nullable_str);
    json!({
            "Budget": {
                "type": "object",
                "properties": {
                    "total_budget": range,
                    "previous_total": {"oneOf": [range, {"type": "null"}]},
                    "delta": {"type": ["object", "null"]},
                    "breakdown": {"type": "object", "additionalProperties": range},
                    "based_on_agents": {"type": "array", "items": {"type": "string"}},
                    "recommendations": {"type": "array", "items": {"type": "string"}},
                    "cost_saving_tips": {"type": "array", "items": {"type": "string"}},
                    "data_source": {"type": "string"},
                    "stated_budget": {"type": ["integer", "null"]},
                    "over_budget": {"type": "boolean"},
                    "swaps": {"type": "array", "items": {"type": "object"}},
                    "fit": {
                        "type": ["object", "null"],
                        "description": "How the stated budget is shared across the planned areas, whether some combination fits, and by how much the cheapest one is over (with the area to cut).",
                    },
                },
            },
            "FinalPlan": {
                "type": "object",
                "properties": {
                    "completion_percent": {"type": "integer", "minimum": 0, "maximum": 100},
                    "areas": {"type": "array", "items": {"type": "object"}},
                    "recommendations": {"type": "array", "items": {"type": "object", "properties": {
                        "category": {"type": "string"},
                        "priority": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
                        "description": {"type": "string"},
                    }}},
                    "next_steps": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                    "active_agents": {"type": "array", "items": {"type": "string"}},
                    "missing_agents": {"type": "array", "items": {"type": "string"}},
                    "checklist": {"type": "array", "items": {"type": "object"}},
                    "checklist_summary": {"type": "object"},
                    "ready": {"type": "boolean"},
                    "facts": {
                        "type": "object",
                        "description": "What the plan understood from the inputs, by fact (theme, guests, ages, birthday, budget, venue_budget, cake_budget, catering_budget, city, setting, setting_preferred, dietary, date, time, flavors, cuisines, vendors, no_cake), each with the input and the words it came from.",
                        "additionalProperties": {"$ref": "#/components/schemas/PlanFact"},
                    },
                },
            },
            "PlanFact": {
                "type": "object",
                "required": ["value", "input_id", "text"],
                "properties": {
                    "value": {"description": "A number, a string, a list of strings or a boolean."},
                    "input_id": {"type": "string"},
                    "text": {"type": "string", "description": "The words of the input the value was read from."},
                    "replaced": {
                        "type": "object",
                        "description": "The earlier statement a later input replaced.",
                        "properties": {
                            "value": {},
                            "input_id": {"type": "string"},
                            "text": {"type": "string"},
                        },
                    },
                    "also_from": {
                        "type": "array",
                        "description": "For a list: the items other inputs added.",
                        "items": {"type": "object"},
                    },
                },
            },
            "Party": {
                "type": "object",
                "required": ["party_id", "status", "created_at", "updated_at", "version", "last_seq", "inputs", "agents", "budget", "final_plan"],
                "properties": {
                    "party_id": {"type": "string"},
                    "status": {"type": "string", "enum": ["planning", "ready"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"},
                    "version": {"type": "integer", "description": "Events applied to this party."},
                    "last_seq": {"type": "integer"},
                    "created_by": nullable_str,
                    "forked_from": {"$ref": "#/components/schemas/ForkedFrom"},
                    "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/Input"}},
                    "agents": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/AgentState"}},
                    "budget": {"oneOf": [{"$ref": "#/components/schemas/Budget"}, {"type": "null"}]},
                    "final_plan": {"oneOf": [{"$ref": "#/components/schemas/FinalPlan"}, {"type": "null"}]},
                },
            },
            "PartyStatusResponse": {
                "type": "object",
                "required": ["success", "party", "message"],
                "properties": {
                    "success": {"const": true},
                    "party": {"$ref": "#/components/schemas/Party"},
                    "message": {"type": "null"},
                },
            },
    })
}

fn schemas_4(v: &Vars) -> Value {
    let Vars {
        codes,
        topics,
        source_types,
        range,
        nullable_str,
    } = v;
    let _ = (codes, topics, source_types, range, nullable_str);
    json!({
            "PartyPlanResponse": {
                "type": "object",
                "required": ["success", "party_id", "status", "version", "last_seq", "final_plan", "budget"],
                "properties": {
                    "success": {"const": true},
                    "party_id": {"type": "string"},
                    "status": {"type": "string", "enum": ["planning", "ready"]},
                    "version": {"type": "integer"},
                    "last_seq": {"type": "integer"},
                    "final_plan": {"oneOf": [{"$ref": "#/components/schemas/FinalPlan"}, {"type": "null"}]},
                    "budget": {"oneOf": [{"$ref": "#/components/schemas/Budget"}, {"type": "null"}]},
                },
            },
            "Event": {
                "type": "object",
                "required": ["event_id", "seq", "party_id", "timestamp", "correlation_id", "causation_id", "source", "event_type", "payload"],
                "properties": {
                    "event_id": {"type": "string", "pattern": "^evt_[0-9a-f]{12}$"},
                    "seq": {"type": "integer", "description": "Global, gap-free sequence number."},
                    "party_id": {"type": "string"},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "correlation_id": {"type": "string", "description": "The X-Request-Id of the request that caused it."},
                    "causation_id": nullable_str,
                    "source": {"type": "string"},
                    "event_type": {"type": "string", "enum": topics},
                    "payload": {"type": "object"},
                },
            },
            "PartyEventsResponse": {
                "type": "object",
                "required": ["success", "party_id", "events", "next_since", "has_more", "last_seq"],
                "properties": {
                    "success": {"const": true},
                    "party_id": {"type": "string"},
                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                    "next_since": {"type": "integer", "description": "Pass as `since` for the next page."},
                    "has_more": {"type": "boolean"},
                    "last_seq": {"type": "integer"},
                },
            },
            "SystemStatusResponse": {
                "type": "object",
                "required": ["success", "status"],
                "properties": {
                    "success": {"const": true},
                    "status": {
                        "type": "object",
                        "required": ["orchestrator", "event_bus", "state_store", "agents", "agent_runs", "dead_letters", "queue_depths", "uptime_seconds", "connections"],
                        "properties": {
                            "version": {"type": "string"},
                            "uptime_seconds": {"type": "number"},
                            "orchestrator": {"type": "object", "properties": {
                                "running": {"type": "boolean"},
                                "background_tasks": {"type": "integer"},
                                "active_tasks": {"type": "integer"},
                            }},
                            "event_bus": {"type": "object", "properties": {
                                "total_published": {"type": "integer"},
                                "total_delivered": {"type": "integer"},
                                "failed_deliveries": {"type": "integer"},
                                "active_topics": {"type": "integer"},
                                "total_subscribers": {"type": "integer"},
                                "dead_letters": {"type": "integer"},
                                "intake_depth": {"type": "integer"},
                                "queue_depths": {"type": "object", "additionalProperties": {"type": "integer"}},
                                "published_by_topic": {"type": "object", "additionalProperties": {"type": "integer"}},
                            }},
                            "state_store": {"type": "object", "properties": {
                                "total_parties": {"type": "integer"},
                                "total_inputs": {"type": "integer"},
                                "total_agent_results": {"type": "integer"},
                                "status_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                            }},
                            "agents": {"type": "object", "additionalProperties": {"type": "boolean"}},
                            "agent_runs": {"type": "object", "properties": {
                                "runs": {"type": "integer"}, "failures": {"type": "integer"}, "timeouts": {"type": "integer"},
                            }},
                            "dead_letters": {"type": "object", "properties": {
                                "total": {"type": "integer"},
                                "recent": {"type": "array", "items": {"type": "object"}},
                            }},
                            "queue_depths": {"type": "object", "properties": {
                                "intake": {"type": "integer"},
                                "subscribers": {"type": "object", "additionalProperties": {"type": "integer"}},
                            }},
                            "connections": {"type": "object", "properties": {
                                "websocket_clients": {"type": "integer"},
                                "http_in_flight": {"type": "integer"},
                                "http_open": {"type": "integer"},
                            }},
                        },
                    },
                },
            },
    })
}

fn schemas_5(v: &Vars) -> Value {
    let Vars {
        codes,
        topics,
        source_types,
        range,
        nullable_str,
    } = v;
    let _ = (codes, topics, source_types, range, nullable_str);
    json!({
            "SystemHealthResponse": {
                "type": "object",
                "required": ["status", "service", "running", "timestamp"],
                "properties": {
                    "status": {"const": "healthy"},
                    "service": {"type": "string"},
                    "running": {"type": "boolean"},
                    "timestamp": {"type": "string", "format": "date-time"},
                },
            },
            "PartyExport": {
                "type": "object",
                "required": ["party_id", "status", "version", "last_seq", "completion_percent", "budget", "checklist", "next_steps"],
                "properties": {
                    "party_id": {"type": "string"},
                    "status": {"type": "string", "enum": ["planning", "ready"]},
                    "version": {"type": "integer"},
                    "last_seq": {"type": "integer"},
                    "theme": nullable_str,
                    "completion_percent": {"type": "integer", "minimum": 0, "maximum": 100},
                    "stated_budget": {"type": ["integer", "null"]},
                    "over_budget": {"type": "boolean"},
                    "budget": {"type": "array", "items": {"type": "object",
                        "required": ["category", "min", "max"],
                        "properties": {"category": {"type": "string"}, "min": {"type": "integer"},
                            "max": {"type": "integer"}, "note": nullable_str}}},
                    "checklist": {"type": "array", "items": {"type": "object",
                        "required": ["id", "category", "task", "done"],
                        "properties": {"id": {"type": "string"}, "category": {"type": "string"},
                            "task": {"type": "string"}, "done": {"type": "boolean"}}}},
                    "next_steps": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Probe": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string", "enum": ["alive", "ready"]}},
            },
            "Health": {
                "type": "object",
                "required": ["status", "service", "version", "timestamp"],
                "properties": {
                    "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
                    "service": {"type": "string"},
                    "version": {"type": "string"},
                    "commit": {"type": "string", "description": "The git commit the binary was built from (`-dirty`: with local changes; `unknown`: built without git)."},
                    "timestamp": {"type": "string", "format": "date-time"},
                },
            },
            "WebSocketMessage": {
                "type": "object",
                "required": ["type"],
                "description": "First `{type: connection, status: connected, party_id, last_seq}`; then one message per event, \
                    each exactly once in seq order, carrying party_id, seq, event_id, correlation_id and timestamp. \
                    Text `ping` gets `pong`; `{\"type\":\"ping\"}` gets `{\"type\":\"pong\"}`.",
                "properties": {
                    "type": {"type": "string", "enum": ["connection", "agent_started", "agent_completed", "agent_failed",
                        "budget_updated", "plan_updated", "input_added", "input_removed", "agent_data_removed",
                        "party_deleted", "pong"]},
                    "party_id": {"type": "string"},
                    "seq": {"type": "integer"},
                    "event_id": {"type": "string"},
                    "correlation_id": {"type": "string"},
                    "timestamp": {"type": "string"},
                },
            },
    })
}

/// The `PartyDigestResponse` schema of `GET /party/{party_id}/digest` (see
/// [`crate::digest`]).
fn schemas_digest() -> Value {
    let hex = json!({"type": "string", "pattern": "^[0-9a-f]{64}$"});
    json!({
        "PartyDigestResponse": {
            "type": "object",
            "description": "The party's digests as of `seq`: `chain` is h_n = SHA-256(h_{n-1} ‖ canonical event_n) \
                over the `events` events of its current life (h_0 = SHA-256(\"partybus.chain.v1\")), `state` the \
                SHA-256 of its canonical folded state. Equal on every restart, compaction and node.",
            "required": ["success", "party_id", "seq", "events", "chain", "state"],
            "properties": {
                "success": {"type": "boolean"},
                "party_id": {"type": "string"},
                "seq": {"type": "integer", "minimum": 0},
                "events": {"type": "integer", "minimum": 0},
                "chain": hex,
                "state": hex,
            },
        },
    })
}

/// The `PlanDiff` schema of `GET /party/{party_id}/diff/{other_id}` (see
/// [`crate::diff::PlanDiff`]).
fn schemas_diff() -> Value {
    let money = json!({"oneOf": [{"$ref": "#/components/schemas/Money"}, {"type": "null"}]});
    let delta = json!({"$ref": "#/components/schemas/Delta"});
    let change = json!({"type": "string", "enum": ["same", "changed", "gained", "lost"]});
    let status = json!({"type": "string", "enum": ["planning", "ready"]});
    let source = json!({"oneOf": [{"type": "null"}, {
        "type": "object",
        "required": ["input_id", "text"],
        "properties": {"input_id": {"type": "string"}, "text": {"type": "string"}},
    }]});
    let side = json!({
        "type": "object",
        "required": ["done", "supplier", "value"],
        "properties": {
            "done": {"type": "boolean"},
            "supplier": {"oneOf": [{"type": "null"}, {
                "type": "object",
                "required": ["id", "name", "city", "capacity", "price"],
                "properties": {
                    "id": {"type": "integer", "minimum": 0},
                    "name": {"type": "string"},
                    "city": {"type": "string"},
                    "capacity": {"type": ["integer", "null"], "minimum": 0},
                    "price": {"type": "integer", "minimum": 0},
                },
            }]},
            "value": {"type": ["string", "null"]},
        },
    });
    json!({
        "Money": {
            "type": "object",
            "required": ["min", "max"],
            "properties": {"min": {"type": "integer", "minimum": 0}, "max": {"type": "integer", "minimum": 0}},
        },
        "Delta": {
            "type": "object",
            "required": ["min", "max"],
            "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
        },
        "PlanDiff": {
            "type": "object",
            "description": "The semantic difference of two parties' plans, `a` (party_id) to `b` (other_id). \
                Deterministic: the same two parties give the same bytes.",
            "required": ["a", "b", "facts", "areas", "budget", "completion", "summary"],
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "string"},
                "facts": {"type": "array", "items": {
                    "type": "object",
                    "description": "A fact whose value differs; null on the side that does not state it.",
                    "required": ["fact", "a", "b", "a_source", "b_source"],
                    "properties": {
                        "fact": {"type": "string"},
                        "a": {},
                        "b": {},
                        "a_source": source,
                        "b_source": source,
                    },
                }},
                "areas": {"type": "array", "items": {
                    "type": "object",
                    "required": ["area", "change", "a", "b", "reasons"],
                    "properties": {
                        "area": {"type": "string", "description": "theme, venue, guests, cake, catering, vendors, vendors/<category>, budget"},
                        "change": change,
                        "a": side,
                        "b": side,
                        "reasons": {"type": "array", "items": {"type": "string",
                            "enum": ["capacity", "city", "price", "theme", "dietary", "setting", "other"]}},
                    },
                }},
                "budget": {
                    "type": "object",
                    "required": ["a_total", "b_total", "delta", "a_stated", "b_stated", "categories", "gained", "lost"],
                    "properties": {
                        "a_total": money,
                        "b_total": money,
                        "delta": delta,
                        "a_stated": {"type": ["integer", "null"]},
                        "b_stated": {"type": ["integer", "null"]},
                        "categories": {"type": "array", "items": {
                            "type": "object",
                            "required": ["category", "change", "a", "b", "delta"],
                            "properties": {
                                "category": {"type": "string"},
                                "change": change,
                                "a": money,
                                "b": money,
                                "delta": delta,
                            },
                        }},
                        "gained": {"type": "array", "items": {"type": "string"}},
                        "lost": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "completion": {
                    "type": "object",
                    "required": ["a", "b", "delta", "a_status", "b_status"],
                    "properties": {
                        "a": {"type": "integer", "minimum": 0, "maximum": 100},
                        "b": {"type": "integer", "minimum": 0, "maximum": 100},
                        "delta": {"type": "integer", "minimum": -100, "maximum": 100},
                        "a_status": status,
                        "b_status": status,
                    },
                },
                "summary": {"type": "array", "items": {"type": "string"}},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_errors() {
        let doc = document();
        for spec in ROUTES {
            let op = &doc["paths"][spec.path][spec.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {}", spec.method.as_str(), spec.path);
            assert!(op["responses"][spec.success.to_string()].is_object());
            for code in spec.errors {
                assert!(
                    op["responses"][code.status().to_string()].is_object(),
                    "{} lacks {}",
                    spec.path,
                    code.as_str()
                );
            }
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"").skip(1) {
            let target = part.split('"').next().unwrap_or("");
            let path: Vec<&str> = target.trim_start_matches("#/").split('/').collect();
            let mut v = &doc;
            for p in &path {
                v = &v[*p];
            }
            assert!(!v.is_null(), "dangling $ref {target}");
        }
    }
}
