//! Live events across servers: two real `gesang serve` processes on one PostgreSQL.
//!
//! These tests make no [`App`]: they are not in `MODULES`' count.

use super::*;

use super::events::{Stream, WAIT};

/// Two `gesang serve` processes on one PostgreSQL: a client of server A sees, live, the case
/// a client of server B creates (NOTIFY carries it across). PostgreSQL only.
#[tokio::test]
async fn a_client_of_one_server_sees_a_case_created_on_another() {
    use super::crash::{client, remove, token, two_servers};
    use http_body_util::Full;
    use hyper::body::Bytes;

    if store::testing::postgres_url().is_none() {
        eprintln!("event cluster test skipped: TEST_DATABASE_URL is not PostgreSQL");
        return;
    }
    let (a, b, t, dir) = two_servers("gesang_evcluster", &[]).await;
    let http = client();
    let user = "center-623027202";
    let (ta, tb) = (
        token(&http, &a.base, user).await,
        token(&http, &b.base, user).await,
    );
    let req = hyper::Request::get(format!("{}/api/v1/events?territory=623027202", a.base))
        .header("authorization", format!("Bearer {ta}"))
        .body(Full::<Bytes>::default())
        .unwrap();
    let resp = http.request(req).await.expect("stream opened on A");
    assert_eq!(resp.status(), 200);
    let mut stream = Stream::of(Body::new(resp.into_body()));
    let req = hyper::Request::post(format!("{}/api/v1/cases", b.base))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {tb}"))
        .body(Full::new(Bytes::from(
            json!({
                "category": "attention.security.theft",
                "description": "在B服务器上报的事",
                "territory": format!("{VILLAGE}001"),
            })
            .to_string(),
        )))
        .unwrap();
    let (status, case) = super::crash::call(&http, req).await.expect("created on B");
    assert_eq!(status, 201, "{case}");
    let seen = stream
        .until(WAIT, |e| e.data["code"] == case["code"])
        .await
        .expect("A's client sees B's case");
    assert_eq!(seen.event.as_deref(), Some("case_created"));
    drop(stream);
    remove(vec![a, b], t, dir).await;
}
