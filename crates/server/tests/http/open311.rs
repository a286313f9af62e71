//! Open311 GeoReport v2: every method in JSON and XML, with the documents' shape checked
//! exactly (element paths and field names), the spec's error lists, and the client habits.

use super::*;

const KEY: &str = "demo-open311-key";
const GARBAGE: &str = "management.environment.garbage";
const JPEG: &[u8] = include_bytes!("../../../domain/testdata/photo-gps.jpg");

/// The element paths of an XML document, in order, each once (`a/b/c`), and its declaration.
fn xml_shape(xml: &str) -> (String, Vec<String>) {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    let mut decl = String::new();
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Decl(d) => decl = String::from_utf8_lossy(&d).into_owned(),
            Event::Start(e) => {
                stack.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                let p = stack.join("/");
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
            Event::Empty(e) => {
                let p = format!(
                    "{}/{}",
                    stack.join("/"),
                    String::from_utf8_lossy(e.name().as_ref())
                );
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (decl, paths)
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

fn strs(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

const REQUEST_FIELDS: &[&str] = &[
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
];

async fn post311(app: &App, ext: &str, form: &[(&str, &str)]) -> Resp {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let req = Request::post(format!("/open311/v2/requests.{ext}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    app.send(req).await
}

fn expect_errors(r: &Resp, status: u16, ext: &str) -> String {
    assert_eq!(r.status.as_u16(), status, "{}", r.text());
    if ext == "json" {
        let v = r.json();
        let e = &v.as_array().expect("an error list")[0];
        assert_eq!(keys(e), strs(&["code", "description"]));
        assert_eq!(e["code"], status);
        e["description"].as_str().unwrap().to_owned()
    } else {
        let t = r.text();
        let (decl, shape) = xml_shape(&t);
        assert!(decl.contains("encoding=\"UTF-8\""));
        assert_eq!(
            shape,
            strs(&[
                "errors",
                "errors/error",
                "errors/error/code",
                "errors/error/description"
            ])
        );
        assert!(t.contains(&format!("<code>{status}</code>")));
        t
    }
}

#[tokio::test]
async fn discovery_services_and_definitions_in_both_formats() {
    let app = App::new().await;
    let d = app.get("/open311/v2/discovery.json", None).await;
    d.expect(StatusCode::OK);
    let d = d.json();
    assert_eq!(
        keys(&d),
        strs(&["changeset", "contact", "endpoints", "key_service"])
    );
    assert_eq!(
        keys(&d["endpoints"][0]),
        strs(&["changeset", "formats", "specification", "type", "url"])
    );
    assert_eq!(
        d["endpoints"][0]["formats"],
        json!(["text/xml", "application/json"])
    );
    let x = app.get("/open311/v2/discovery.xml", None).await.text();
    assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert_eq!(
        xml_shape(&x).1,
        strs(&[
            "discovery",
            "discovery/changeset",
            "discovery/contact",
            "discovery/key_service",
            "discovery/endpoints",
            "discovery/endpoints/endpoint",
            "discovery/endpoints/endpoint/specification",
            "discovery/endpoints/endpoint/url",
            "discovery/endpoints/endpoint/changeset",
            "discovery/endpoints/endpoint/type",
            "discovery/endpoints/endpoint/formats",
            "discovery/endpoints/endpoint/formats/format"
        ])
    );

    for q in ["", "?jurisdiction_id=", "?jurisdiction_id=623000"] {
        let s = app
            .get(&format!("/open311/v2/services.json{q}"), None)
            .await;
        s.expect(StatusCode::OK);
        assert_eq!(
            s.header(header::CONTENT_TYPE),
            Some("application/json; charset=utf-8")
        );
        let list = s.json();
        let list = list.as_array().unwrap();
        assert!(list.iter().any(|x| x["service_code"] == GARBAGE));
        assert!(list.iter().all(|x| x["service_code"].is_string()
            && x["metadata"] == true
            && x["type"] == "realtime"));
        assert!(
            !list.iter().any(|x| x["service_code"]
                .as_str()
                .unwrap()
                .contains("special-groups")),
            "no sensitive services"
        );
        assert_eq!(
            keys(&list[0]),
            strs(&[
                "description",
                "group",
                "keywords",
                "metadata",
                "service_code",
                "service_name",
                "type"
            ])
        );
    }
    let sx = app.get("/open311/v2/services.xml", None).await;
    assert_eq!(
        sx.header(header::CONTENT_TYPE),
        Some("text/xml; charset=utf-8")
    );
    assert_eq!(
        xml_shape(&sx.text()).1,
        strs(&[
            "services",
            "services/service",
            "services/service/service_code",
            "services/service/service_name",
            "services/service/description",
            "services/service/metadata",
            "services/service/type",
            "services/service/keywords",
            "services/service/group"
        ])
    );
    expect_errors(
        &app.get("/open311/v2/services.xml?jurisdiction_id=beijing", None)
            .await,
        404,
        "xml",
    );

    // A definition, by services/ and by the service/ alias.
    for path in ["services", "service"] {
        let def = app
            .get(&format!("/open311/v2/{path}/{GARBAGE}.json"), None)
            .await;
        def.expect(StatusCode::OK);
        let def = def.json();
        assert_eq!(keys(&def), strs(&["attributes", "service_code"]));
        assert_eq!(def["service_code"], GARBAGE);
        let a = &def["attributes"][0];
        assert_eq!(
            keys(a),
            strs(&[
                "code",
                "datatype",
                "datatype_description",
                "description",
                "order",
                "required",
                "values",
                "variable"
            ])
        );
        assert_eq!(keys(&a["values"][0]), strs(&["key", "name"]));
    }
    let dx = app
        .get(&format!("/open311/v2/services/{GARBAGE}.xml"), None)
        .await
        .text();
    assert_eq!(
        xml_shape(&dx).1,
        strs(&[
            "service_definition",
            "service_definition/service_code",
            "service_definition/attributes",
            "service_definition/attributes/attribute",
            "service_definition/attributes/attribute/variable",
            "service_definition/attributes/attribute/code",
            "service_definition/attributes/attribute/datatype",
            "service_definition/attributes/attribute/required",
            "service_definition/attributes/attribute/datatype_description",
            "service_definition/attributes/attribute/order",
            "service_definition/attributes/attribute/description",
            "service_definition/attributes/attribute/values",
            "service_definition/attributes/attribute/values/value",
            "service_definition/attributes/attribute/values/value/key",
            "service_definition/attributes/attribute/values/value/name"
        ])
    );
    expect_errors(
        &app.get(
            "/open311/v2/services/attention.special-groups.drug.json",
            None,
        )
        .await,
        404,
        "json",
    );
    expect_errors(
        &app.get("/open311/v2/services/nothing.xml", None).await,
        404,
        "xml",
    );
}

#[tokio::test]
async fn requests_are_posted_listed_filtered_and_read_in_both_formats() {
    let app = App::new().await;
    let (lng, lat) = super::resident::damai_point(&app).await;
    let (lat_s, lng_s) = (lat.to_string(), lng.to_string());
    let base = [
        ("jurisdiction_id", ""),
        ("service_code", GARBAGE),
        ("lat", lat_s.as_str()),
        ("long", lng_s.as_str()),
    ];

    // POST in JSON and in XML, api_key in the form or in the query.
    let mut form = base.to_vec();
    form.extend([
        ("api_key", KEY),
        ("description", "open311 垃圾 json"),
        ("first_name", "Tashi"),
        ("attribute[urgency]", "urgent"),
    ]);
    let r = post311(&app, "json", &form).await;
    r.expect(StatusCode::CREATED);
    let created = r.json()[0].clone();
    assert_eq!(
        keys(&created),
        strs(&[
            "account_id",
            "service_notice",
            "service_request_id",
            "token"
        ])
    );
    let id = created["service_request_id"].as_str().unwrap().to_owned();
    let token = created["token"].as_str().unwrap().to_owned();
    let rec = server::actions::resident::case_of_code(&app.state, &token)
        .await
        .unwrap()
        .1;
    assert_eq!(
        (
            rec.channel.as_str(),
            rec.code.as_str(),
            rec.urgency.as_str()
        ),
        ("open311", id.as_str(), "urgent")
    );

    let body = base
        .iter()
        .chain([("description", "open311 垃圾 xml")].iter())
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let req = Request::post(format!("/open311/v2/requests.xml?api_key={KEY}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let r = app.send(req).await;
    r.expect(StatusCode::CREATED);
    let (decl, shape) = xml_shape(&r.text());
    assert_eq!(decl, "xml version=\"1.0\" encoding=\"UTF-8\"");
    assert_eq!(
        shape,
        strs(&[
            "service_requests",
            "service_requests/request",
            "service_requests/request/service_request_id",
            "service_requests/request/token",
            "service_requests/request/service_notice",
            "service_requests/request/account_id"
        ])
    );

    // A photo through the resident door in the same public category: its media_url.
    let (ct, mp) = super::attachments::multipart(&[
        ("category", None, GARBAGE.as_bytes()),
        ("description", None, b"with photo"),
        ("lat", None, lat_s.as_bytes()),
        ("lng", None, lng_s.as_bytes()),
        ("photo", Some("p.jpg"), JPEG),
    ]);
    let r = app
        .send(
            Request::post("/api/v1/public/reports")
                .header(header::CONTENT_TYPE, ct)
                .body(Body::from(mp))
                .unwrap(),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let photo_case = case_code(&app, r.json()["tracking_code"].as_str().unwrap()).await;

    // GET requests: JSON and XML, every field, ISO 8601 with the offset, ids as strings.
    let list = app
        .get(
            &format!("/open311/v2/requests.json?service_code={GARBAGE}&status=open"),
            None,
        )
        .await;
    list.expect(StatusCode::OK);
    let list = list.json();
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["service_request_id"] == id)
        .expect("listed")
        .clone();
    let mut want = strs(REQUEST_FIELDS);
    want.sort();
    assert_eq!(keys(&mine), want);
    assert_eq!(mine["status"], "open");
    assert!(
        mine["requested_datetime"]
            .as_str()
            .unwrap()
            .ends_with("+08:00"),
        "{mine}"
    );
    assert!(mine["address_id"].as_str().unwrap().starts_with(VILLAGE));
    assert!(
        mine["agency_responsible"]
            .as_str()
            .unwrap()
            .contains("综治中心")
    );
    assert!(!mine.to_string().contains("Tashi"), "no personal data");
    let with_photo = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["service_request_id"] == photo_case)
        .expect("the photo case")
        .clone();
    let media = with_photo["media_url"].as_str().unwrap().to_owned();
    assert!(media.contains("/open311/v2/media/") && media.ends_with(".jpg"));
    let path = media
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .unwrap();
    let m = app.get(&path, None).await;
    m.expect(StatusCode::OK);
    assert_eq!(m.header(header::CONTENT_TYPE), Some("image/jpeg"));

    let x = app
        .get(
            &format!("/open311/v2/requests.xml?service_code={GARBAGE}"),
            None,
        )
        .await
        .text();
    let (_, shape) = xml_shape(&x);
    let want: Vec<String> = std::iter::once("service_requests".to_owned())
        .chain(std::iter::once("service_requests/request".to_owned()))
        .chain(
            REQUEST_FIELDS
                .iter()
                .map(|f| format!("service_requests/request/{f}")),
        )
        .collect();
    assert_eq!(shape, want);

    // Filters: ids override; closed only; the date window; the 90-day limit.
    let by_id = app
        .get(
            &format!(
                "/open311/v2/requests.json?service_request_id={id},{photo_case}&status=closed"
            ),
            None,
        )
        .await
        .json();
    assert_eq!(by_id.as_array().unwrap().len(), 2);
    let closed = app
        .get(
            &format!("/open311/v2/requests.json?status=closed&service_code={GARBAGE}"),
            None,
        )
        .await
        .json();
    assert!(
        !closed
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["service_request_id"] == id)
    );
    let future = app.get("/open311/v2/requests.json?start_date=2030-01-01T00:00:00%2B08:00&end_date=2030-02-01T00:00:00%2B08:00", None).await.json();
    assert_eq!(future, json!([]));
    expect_errors(
        &app.get("/open311/v2/requests.json?start_date=yesterday", None)
            .await,
        400,
        "json",
    );
    expect_errors(&app.get("/open311/v2/requests.xml?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", None).await, 400, "xml");
    expect_errors(
        &app.get("/open311/v2/requests.json?status=pending", None)
            .await,
        400,
        "json",
    );

    // One request; a token.
    for ext in ["json", "xml"] {
        let one = app
            .get(&format!("/open311/v2/requests/{id}.{ext}"), None)
            .await;
        one.expect(StatusCode::OK);
        if ext == "json" {
            assert_eq!(one.json().as_array().unwrap().len(), 1);
            assert_eq!(one.json()[0]["service_request_id"], id);
        } else {
            assert!(
                one.text()
                    .contains(&format!("<service_request_id>{id}</service_request_id>"))
            );
        }
        let t = app
            .get(&format!("/open311/v2/tokens/{token}.{ext}"), None)
            .await;
        t.expect(StatusCode::OK);
        if ext == "json" {
            assert_eq!(
                t.json(),
                json!([{"service_request_id": id, "token": token}])
            );
        } else {
            assert_eq!(
                xml_shape(&t.text()).1,
                strs(&[
                    "service_requests",
                    "service_requests/request",
                    "service_requests/request/service_request_id",
                    "service_requests/request/token"
                ])
            );
        }
        expect_errors(
            &app.get(
                &format!("/open311/v2/requests/GN20000101999999.{ext}"),
                None,
            )
            .await,
            404,
            ext,
        );
        expect_errors(
            &app.get(
                &format!("/open311/v2/tokens/ABCD-EFGH-JKMN-PQRS.{ext}"),
                None,
            )
            .await,
            404,
            ext,
        );
    }
}

async fn case_code(app: &App, tracking: &str) -> String {
    server::actions::resident::case_of_code(&app.state, tracking)
        .await
        .unwrap()
        .1
        .code
}

#[tokio::test]
async fn malformed_requests_get_the_spec_error_list_and_store_nothing() {
    let app = App::new().await;
    let (lng, lat) = super::resident::damai_point(&app).await;
    let (lat_s, lng_s) = (lat.to_string(), lng.to_string());
    let tag = format!("zqopen{}", std::process::id());
    let good = [
        ("api_key", KEY),
        ("service_code", GARBAGE),
        ("lat", lat_s.as_str()),
        ("long", lng_s.as_str()),
        ("description", tag.as_str()),
    ];
    let without = |k: &str| {
        good.iter()
            .filter(|(n, _)| *n != k)
            .cloned()
            .collect::<Vec<_>>()
    };
    let with = |k: &'static str, v: &'static str| {
        let mut f: Vec<(&str, &str)> = without(k);
        f.push((k, v));
        f
    };
    for ext in ["json", "xml"] {
        assert!(
            expect_errors(&post311(&app, ext, &without("api_key")).await, 403, ext)
                .contains("api_key")
        );
        expect_errors(
            &post311(&app, ext, &with("api_key", "not-a-key")).await,
            403,
            ext,
        );
        expect_errors(
            &post311(&app, ext, &without("service_code")).await,
            400,
            ext,
        );
        expect_errors(
            &post311(
                &app,
                ext,
                &with("service_code", "attention.special-groups.drug"),
            )
            .await,
            400,
            ext,
        );
        expect_errors(&post311(&app, ext, &without("description")).await, 400, ext);
        expect_errors(
            &post311(&app, ext, &with("description", "   ")).await,
            400,
            ext,
        );
        let no_place: Vec<_> = good
            .iter()
            .filter(|(k, _)| *k != "lat" && *k != "long")
            .cloned()
            .collect();
        expect_errors(&post311(&app, ext, &no_place).await, 400, ext);
        expect_errors(&post311(&app, ext, &with("lat", "north")).await, 400, ext);
        let mut only_lat = without("long");
        only_lat.push(("address_string", "夏河县拉卜楞镇"));
        expect_errors(&post311(&app, ext, &only_lat).await, 400, ext);
        // Beijing: outside the prefecture.
        let mut beijing = without("lat");
        beijing.retain(|(k, _)| *k != "long");
        beijing.extend([("lat", "39.9"), ("long", "116.4")]);
        expect_errors(&post311(&app, ext, &beijing).await, 400, ext);
        expect_errors(
            &post311(&app, ext, &with("jurisdiction_id", "110000")).await,
            404,
            ext,
        );
    }
    let admin = app.token("admin").await;
    let found = app
        .get(&format!("/api/v1/cases?q={tag}"), Some(&admin))
        .await
        .json();
    assert_eq!(found["items"], json!([]), "nothing half-saved");

    // Keys are issued by administrators only; a new key works at once.
    let centre = app.token("center-623027").await;
    app.post_json(
        "/api/v1/admin/open311-keys",
        &json!({"name": "x"}),
        Some(&centre),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let r = app
        .post_json(
            "/api/v1/admin/open311-keys",
            &json!({"name": "12345 hotline"}),
            Some(&admin),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    let listed = app
        .get("/api/v1/admin/open311-keys", Some(&admin))
        .await
        .json();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "12345 hotline")
    );
    assert!(
        !listed.to_string().contains(&key),
        "the key itself is not kept"
    );
    let mut f = without("api_key");
    f.push(("api_key", key.as_str()));
    post311(&app, "json", &f).await.expect(StatusCode::CREATED);
}
