//! Attachments of cases: photos and audio notes uploaded as multipart, checked by their bytes,
//! stripped of location metadata, listed on the case, and served only to callers who may see
//! the case, with an ETag and private caching.

use super::*;

const JPEG_GPS: &[u8] = include_bytes!("../../../domain/testdata/photo-gps.jpg");
const PNG_GPS: &[u8] = include_bytes!("../../../domain/testdata/photo-gps.png");
const WORKER: &str = "worker-623027202201002";
const VILLAGE_CENTRE: &str = "center-623027202201";

/// A `multipart/form-data` body: `(field, file name or None for text, bytes)`.
pub(crate) fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "gesangBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    app: &App,
    uri: &str,
    token: Option<&str>,
    parts: &[(&str, Option<&str>, &[u8])],
) -> Resp {
    let (ct, body) = multipart(parts);
    let mut req = Request::post(uri).header(header::CONTENT_TYPE, ct);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    app.send(req.body(Body::from(body)).unwrap()).await
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn count(app: &App, uri: &str, token: &str) -> usize {
    app.get(uri, Some(token)).await.json()["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn new_case(app: &App, worker: &str) -> String {
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": "service.policy", "description": "附件测试 attachments"}),
            Some(worker),
        )
        .await;
    r.expect(StatusCode::CREATED);
    r.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn photos_are_cleaned_listed_and_served_to_those_who_see_the_case() {
    let app = App::new().await;
    let worker = app.token(WORKER).await;
    let id = new_case(&app, &worker).await;
    let uri = format!("/api/v1/cases/{id}/attachments");

    let r = upload(
        &app,
        &uri,
        Some(&worker),
        &[
            ("photo", Some("IMG_0001.jpg"), JPEG_GPS),
            ("file", Some("x.png"), PNG_GPS),
            (
                "audio",
                Some("voice.ogg"),
                b"OggS\0\x02\0\0\0\0 a voice note",
            ),
        ],
    )
    .await;
    r.expect(StatusCode::CREATED);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["kind"], "photo");
    assert_eq!(items[0]["content_type"], "image/jpeg");
    assert_eq!(items[0]["width"], 64);
    assert_eq!(items[0]["height"], 48);
    assert!(items[0]["id"].is_string(), "ids are strings");
    assert_eq!(items[1]["content_type"], "image/png");
    assert_eq!(items[2]["kind"], "audio");
    assert_eq!(items[2]["content_type"], "audio/ogg");
    let photo_url = items[0]["url"].as_str().unwrap().to_owned();
    assert_eq!(
        photo_url,
        format!("/api/v1/attachments/{}", items[0]["id"].as_str().unwrap())
    );

    // The case view lists them.
    let case = app
        .get(&format!("/api/v1/cases/{id}"), Some(&worker))
        .await
        .json();
    assert_eq!(case["attachments"].as_array().unwrap().len(), 3);
    let listed = app.get(&uri, Some(&worker)).await;
    listed.expect(StatusCode::OK);
    assert_eq!(listed.json()["items"], json!(items));

    // The file: cleaned bytes, sniffed type, ETag, private caching; 304 on a match.
    let centre = app.token(VILLAGE_CENTRE).await;
    let f = app.get(&photo_url, Some(&centre)).await;
    f.expect(StatusCode::OK);
    assert_eq!(f.header(header::CONTENT_TYPE), Some("image/jpeg"));
    assert!(
        f.header(header::CACHE_CONTROL)
            .unwrap()
            .starts_with("private")
    );
    assert_eq!(f.header(header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
    let etag = f.header(header::ETAG).unwrap().to_owned();
    assert_eq!(
        etag,
        format!("\"{}\"", items[0]["sha256"].as_str().unwrap())
    );
    assert!(f.body.starts_with(&[0xFF, 0xD8]));
    assert!(
        contains(JPEG_GPS, b"TestCam") && !contains(&f.body, b"TestCam"),
        "EXIF removed"
    );
    assert!(!contains(&f.body, b"GPSLatitude"), "XMP removed");
    assert_eq!(f.body.len() as i64, items[0]["size"].as_i64().unwrap());
    let req = Request::get(&photo_url)
        .header(header::AUTHORIZATION, format!("Bearer {centre}"))
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await;
    r.expect(StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());

    // The same check as the case itself: outside the scope 403, no token 401.
    let admin = app.token("admin").await;
    let other = picks(&app, &admin).await.other_township;
    let outsider = app.token(&format!("center-{other}")).await;
    app.get(&photo_url, Some(&outsider))
        .await
        .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    app.get(&uri, Some(&outsider))
        .await
        .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    app.get(&photo_url, None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.get("/api/v1/attachments/999999999", Some(&centre))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/v1/attachments/abc", Some(&centre))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");

    // Pages get the file with their session cookie.
    let session = app.session(VILLAGE_CENTRE).await;
    let page_url = format!("/attachments/{}", items[0]["id"].as_str().unwrap());
    let p = app.page(&page_url, Some(&session)).await;
    p.expect(StatusCode::OK);
    assert_eq!(p.body, f.body);
    let case_page = app.page(&format!("/cases/{id}"), Some(&session)).await;
    assert!(
        case_page.text().contains(&format!("src=\"{page_url}\"")),
        "the case page shows the photo"
    );
    let out_session = app.session(&format!("center-{other}")).await;
    assert_eq!(
        app.page(&page_url, Some(&out_session)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.page(&page_url, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bad_files_are_refused_and_nothing_is_half_saved() {
    let app = App::new().await;
    let worker = app.token(WORKER).await;
    let id = new_case(&app, &worker).await;
    let uri = format!("/api/v1/cases/{id}/attachments");

    // Not an image, whatever its name says; a good photo next to it is not stored either.
    let r = upload(
        &app,
        &uri,
        Some(&worker),
        &[
            ("photo", Some("a.jpg"), JPEG_GPS),
            ("photo", Some("b.jpg"), b"<html>not a photo</html>"),
        ],
    )
    .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(r.json()["error"]["field"], "photo");
    assert_eq!(count(&app, &uri, &worker).await, 0, "nothing half-saved");

    // An audio note sent as a photo; a damaged JPEG.
    upload(
        &app,
        &uri,
        Some(&worker),
        &[("photo", Some("v.jpg"), b"OggS\0\x02\0\0")],
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    upload(
        &app,
        &uri,
        Some(&worker),
        &[("photo", Some("d.jpg"), &JPEG_GPS[..300])],
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");

    // A photo over 8 MB: 413 naming the field.
    let mut big = JPEG_GPS.to_vec();
    big.resize(9 * 1024 * 1024, 0);
    let r = upload(
        &app,
        &uri,
        Some(&worker),
        &[("photo", Some("big.jpg"), &big)],
    )
    .await;
    r.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(r.json()["error"]["field"], "photo");

    // A 50 MB body: 413 before the parts are looked at.
    let huge = vec![0u8; 50 * 1024 * 1024];
    upload(
        &app,
        &uri,
        Some(&worker),
        &[("file", Some("huge.bin"), &huge)],
    )
    .await
    .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // Seven photos: too many, none stored; six fit, a seventh later does not.
    let seven: Vec<(&str, Option<&str>, &[u8])> =
        (0..7).map(|_| ("photo", Some("p.jpg"), JPEG_GPS)).collect();
    upload(&app, &uri, Some(&worker), &seven)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(count(&app, &uri, &worker).await, 0);
    upload(&app, &uri, Some(&worker), &seven[..6])
        .await
        .expect(StatusCode::CREATED);
    upload(&app, &uri, Some(&worker), &seven[..1])
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(count(&app, &uri, &worker).await, 6);

    // No file at all, not multipart, a bad event number.
    upload(&app, &uri, Some(&worker), &[("note", None, b"hello")])
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    app.post_json(&uri, &json!({"photo": "x"}), Some(&worker))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    let r = upload(
        &app,
        &format!("{uri}?event=99"),
        Some(&worker),
        &[("audio", Some("v.ogg"), b"OggS\0\x02")],
    )
    .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(r.json()["error"]["field"], "event");
    upload(
        &app,
        &format!("{uri}?event=1"),
        Some(&worker),
        &[("audio", Some("v.ogg"), b"OggS\0\x02")],
    )
    .await
    .expect(StatusCode::CREATED);

    // Someone who sees the case but has no part in it may not add to it.
    let handler = app.token("handler-623027-police").await;
    app.get(&uri, Some(&handler)).await.expect(StatusCode::OK);
    upload(
        &app,
        &uri,
        Some(&handler),
        &[("photo", Some("a.jpg"), JPEG_GPS)],
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    upload(&app, &uri, None, &[("photo", Some("a.jpg"), JPEG_GPS)])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
}
