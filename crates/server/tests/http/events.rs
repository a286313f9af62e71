//! Live events (`GET /api/v1/events`): a stream of a node sees the cases created and changed
//! inside it as they commit, and nothing outside it; scope is checked; a reconnecting client
//! resumes after its `Last-Event-ID`; the page session works as well as a bearer token.

use super::*;

use std::time::Duration;

/// One parsed server-sent event.
#[derive(Debug, Clone)]
pub(crate) struct Sse {
    pub(crate) id: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) data: Value,
}

/// An open event stream: its body, read frame by frame.
pub(crate) struct Stream {
    body: Body,
    buf: String,
    pub(crate) seen: Vec<Sse>,
}

impl Stream {
    pub(crate) fn of(body: Body) -> Stream {
        Stream {
            body,
            buf: String::new(),
            seen: Vec::new(),
        }
    }

    pub(crate) async fn open(app: &App, uri: &str, auth: (&str, &str)) -> Stream {
        let req = Request::get(uri)
            .header(auth.0, auth.1)
            .body(Body::empty())
            .unwrap();
        let resp = app.router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "open {uri}");
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/event-stream",
            "content type"
        );
        Stream {
            body: resp.into_body(),
            buf: String::new(),
            seen: Vec::new(),
        }
    }

    /// Read until an event satisfies `pred` (returned), or `wait` passes (None).
    pub(crate) async fn until(
        &mut self,
        wait: Duration,
        pred: impl Fn(&Sse) -> bool,
    ) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut e = Sse {
                    id: None,
                    event: None,
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        e.id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        e.event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a heartbeat
                }
                e.data = serde_json::from_str(&data).expect("event data is JSON");
                self.seen.push(e.clone());
                if pred(&e) {
                    return Some(e);
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame()).await;
            match frame {
                Ok(Some(Ok(f))) => {
                    if let Ok(bytes) = f.into_data() {
                        self.buf.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                Ok(_) => panic!("the stream ended"),
                Err(_) => return None,
            }
        }
    }
}

fn bearer(t: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {t}"))
}

async fn new_case(app: &App, token: &str, territory: &str, text: &str) -> Value {
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({
                "category": "attention.security.theft",
                "description": text,
                "territory": territory,
            }),
            Some(token),
        )
        .await;
    r.expect(StatusCode::CREATED);
    r.json()
}

pub(crate) const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_stream_sees_its_nodes_cases_live_and_nothing_outside() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let centre = app.token("center-623027202").await;
    let (k, v) = bearer(&centre);
    let mut township = Stream::open(&app, "/api/v1/events?territory=623027202", (k, &v)).await;
    let (k, v) = bearer(&admin);
    let mut county = Stream::open(&app, "/api/v1/events?territory=623027", (k, &v)).await;

    let outside = new_case(&app, &admin, &p.other_township, "别的乡的事").await;
    let inside = new_case(&app, &centre, &p.grid, "达麦乡的新事").await;
    let code = inside["code"].as_str().unwrap().to_owned();

    let got = township
        .until(WAIT, |e| e.data["code"] == code.as_str())
        .await
        .expect("the township's stream shows its new case");
    assert_eq!(got.event.as_deref(), Some("case_created"));
    assert_eq!(got.data["kind"], "case_created");
    assert_eq!(got.data["case_id"], inside["id"]);
    assert_eq!(got.data["territory"], p.grid.as_str());
    assert_eq!(got.data["status"], "submitted");
    assert_eq!(got.id.as_deref(), got.data["id"].as_str());
    assert!(
        got.data.get("description").is_none() && got.data.get("reporter").is_none(),
        "no text or personal data on the stream: {}",
        got.data
    );
    assert!(
        !township
            .seen
            .iter()
            .any(|e| e.data["code"] == outside["code"]),
        "another township's case is not on this stream"
    );
    // The county sees both.
    for c in [&outside, &inside] {
        county
            .until(WAIT, |e| e.data["code"] == c["code"])
            .await
            .unwrap_or_else(|| panic!("the county's stream shows {}", c["code"]));
    }

    // A state change and a supervision.
    let id = inside["id"].as_str().unwrap();
    app.post_json(
        &format!("/api/v1/cases/{id}/actions"),
        &json!({"action": "accept"}),
        Some(&centre),
    )
    .await
    .expect(StatusCode::OK);
    let changed = township
        .until(WAIT, |e| {
            e.data["code"] == code.as_str() && e.event.as_deref() == Some("case_changed")
        })
        .await
        .expect("the accept is on the stream");
    assert_eq!(changed.data["action"], "accept");
    assert_eq!(changed.data["from_status"], "submitted");
    assert_eq!(changed.data["status"], "accepted");
    let county_centre = app.token("center-623027").await;
    app.post_json(
        &format!("/api/v1/cases/{id}/actions"),
        &json!({"action": "supervise", "level": "yellow", "text": "抓紧办理"}),
        Some(&county_centre),
    )
    .await
    .expect(StatusCode::OK);
    let card = township
        .until(WAIT, |e| {
            e.data["code"] == code.as_str() && e.event.as_deref() == Some("case_supervised")
        })
        .await
        .expect("the supervision is on the stream");
    assert_eq!(card.data["level"], "yellow");
    assert_eq!(card.data["automatic"], false);
}

#[tokio::test]
async fn streams_check_scope_and_resume_after_the_last_event() {
    let app = App::new().await;
    let centre = app.token("center-623027202").await;
    app.get("/api/v1/events", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/api/v1/events?territory=623027", Some(&centre))
        .await
        .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    app.get("/api/v1/events?territory=12x", Some(&centre))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);

    // The default node is the caller's own; a page session opens it too.
    let session = app.session("center-623027202").await;
    let cookie = format!("gesang_session={session}");
    let mut s = Stream::open(&app, "/api/v1/events", ("cookie", &cookie)).await;
    let grid = format!("{VILLAGE}001");
    let first = new_case(&app, &centre, &grid, "第一件").await;
    let e1 = s
        .until(WAIT, |e| e.data["code"] == first["code"])
        .await
        .expect("the first case on the session's stream");
    drop(s);

    // Two more while disconnected; the resumed stream replays them, in order, and goes on live.
    let second = new_case(&app, &centre, &grid, "第二件").await;
    let third = new_case(&app, &centre, &grid, "第三件").await;
    let (k, v) = bearer(&centre);
    let req = Request::get("/api/v1/events")
        .header(k, &v)
        .header("last-event-id", e1.id.clone().unwrap())
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut resumed = Stream {
        body: resp.into_body(),
        buf: String::new(),
        seen: Vec::new(),
    };
    resumed
        .until(WAIT, |e| e.data["code"] == third["code"])
        .await
        .expect("the missed cases are replayed");
    let codes: Vec<&Value> = resumed
        .seen
        .iter()
        .filter(|e| e.event.as_deref() == Some("case_created"))
        .map(|e| &e.data["code"])
        .filter(|c| **c == second["code"] || **c == third["code"] || **c == first["code"])
        .collect();
    assert_eq!(
        codes,
        vec![&second["code"], &third["code"]],
        "replayed once each, in order, not the first"
    );
    let ids: Vec<i64> = resumed
        .seen
        .iter()
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.iter()
            .all(|i| *i > e1.id.as_deref().unwrap().parse::<i64>().unwrap())
    );
    let fourth = new_case(&app, &centre, &grid, "第四件").await;
    resumed
        .until(WAIT, |e| e.data["code"] == fourth["code"])
        .await
        .expect("live after the replay");
    assert_eq!(
        resumed
            .seen
            .iter()
            .filter(|e| e.data["code"] == fourth["code"])
            .count(),
        1
    );
}

/// What another door (the emergency's incidents) publishes reaches the streams of the nodes
/// above it, and only those.
#[tokio::test]
async fn published_events_reach_the_streams_of_their_node() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let (k, v) = bearer(&admin);
    let mut village = Stream::open(
        &app,
        &format!("/api/v1/events?territory={VILLAGE}"),
        (k, &v),
    )
    .await;
    let mut elsewhere = Stream::open(&app, "/api/v1/events?territory=623027201", (k, &v)).await;
    let marker = format!("test-{}", std::process::id());
    app.state
        .events
        .publish(server::events::LiveEvent {
            kind: "incident_opened".into(),
            territory: domain::territory::TerritoryCode::parse(VILLAGE).unwrap(),
            case_id: None,
            at: Utc::now(),
            body: json!({"title": marker}),
        })
        .await
        .expect("published");
    let e = village
        .until(WAIT, |e| e.data["title"] == marker.as_str())
        .await
        .expect("the village's stream has it");
    assert_eq!(e.event.as_deref(), Some("incident_opened"));
    assert!(
        elsewhere
            .until(Duration::from_millis(1500), |e| e.data["title"]
                == marker.as_str())
            .await
            .is_none(),
        "another township's stream does not"
    );
}
