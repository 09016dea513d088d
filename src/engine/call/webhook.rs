//! The dialplan's `webhook` for a call: the request the edge POSTs (the call's state as
//! JSON) and what its reply does. The HTTP exchange itself is `rt::webhook`, on a task of its
//! own, so the core never waits on an application server.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::CallKey;
use super::ivr::Wait;
use crate::engine::Engine;

/// What a webhook request needs; the edge POSTs it and answers with
/// [`Engine::handle_webhook_reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// Names the request in its reply.
    pub id: u64,
    /// Where.
    pub url: String,
    /// JSON: the call's state.
    pub body: Vec<u8>,
    /// How long the whole exchange may take.
    pub timeout: Duration,
}

impl Engine {
    /// The call's state as the webhook's JSON body.
    pub(in crate::engine) fn webhook_body(&self, key: CallKey) -> Vec<u8> {
        let Some(call) = self.calls.get(&key) else { return b"{}".to_vec() };
        let vars: serde_json::Map<String, serde_json::Value> = call
            .route
            .as_ref()
            .map(|s| {
                s.vars()
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let body = serde_json::json!({
            "call_id": call.cdr_id,
            "caller": call.caller,
            "caller_name": call.caller_display,
            "dialed": call.callee,
            "from_trunk": call.from_trunk,
            "context": call.route.as_ref().and_then(|s| s.context_name()),
            "answered": call.ivr.as_ref().is_some_and(|i| i.answered()),
            "vars": vars,
        });
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Next webhook request for the edge to send.
    pub fn poll_webhook(&mut self) -> Option<WebhookRequest> {
        self.hooks_out.pop_front()
    }

    /// A webhook's reply (`Err`: why it failed). A valid reply sets its variables and runs
    /// its actions next; anything else runs the webhook's failure block.
    pub fn handle_webhook_reply(&mut self, now: Instant, id: u64, reply: Result<Vec<u8>, String>) {
        let Some(key) = self.hook_calls.remove(&id) else { return };
        self.ivr_woken(key);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let waiting = call.ivr.as_ref().is_some_and(|i| matches!(i.wait, Wait::Webhook(w) if w == id));
        if !waiting {
            return;
        }
        let _e = call.span.clone().entered();
        if let Some(i) = call.ivr.as_mut() {
            i.wait = Wait::Nothing;
        }
        let Some(s) = call.route.as_mut() else { return };
        let applied = reply.and_then(|body| apply_reply(s, &body));
        match applied {
            Ok(n) => info!(actions = n, "webhook answered"),
            Err(e) => {
                warn!(error = %e, "webhook failed");
                s.webhook_failed();
            }
        }
        self.plan_next(now, key, None);
    }
}

/// Applies a webhook reply: `{"set": {"VAR": "value"}, "actions": ["line", …] or "lines"}`
/// (both optional). Returns the number of actions; `Err` leaves the session untouched.
fn apply_reply(s: &mut crate::dialplan::Session, body: &[u8]) -> Result<usize, String> {
    let v: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|e| format!("reply is not JSON: {e}"))?
    };
    let obj = v.as_object().ok_or("reply is not a JSON object")?;
    let mut sets = Vec::new();
    if let Some(set) = obj.get("set") {
        let set = set.as_object().ok_or("`set` is not an object")?;
        for (k, v) in set {
            if !crate::dialplan::is_var_name(k) {
                return Err(format!("`set`: `{k}` is not a variable name"));
            }
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return Err(format!("`set`: `{k}` is not a string, number or boolean")),
            };
            sets.push((k.clone(), v));
        }
    }
    let text = match obj.get("actions") {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(serde_json::Value::Array(a)) => {
            let mut t = String::new();
            for l in a {
                t.push_str(l.as_str().ok_or("`actions`: every line must be a string")?);
                t.push('\n');
            }
            t
        }
        Some(_) => return Err("`actions` is not a string or a list of strings".to_owned()),
    };
    let steps = if text.trim().is_empty() {
        Vec::new()
    } else {
        let ctx = s.context_name().unwrap_or_default().to_owned();
        s.plan()
            .parse_actions("<webhook reply>", &text, &ctx)
            .map_err(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; "))?
    };
    for (k, v) in sets {
        s.set_var(&k, &v);
    }
    let n = steps.len();
    if n > 0 {
        s.inject(steps);
    }
    Ok(n)
}
