//! Fuzz targets (issue 9): every parser of outside input, called exactly as the handlers call
//! it, on arbitrary bytes. A target must return (with any error) and never panic, hang or
//! exhaust memory.
//!
//! The same targets run three ways: under cargo-fuzz (`fuzz/`, on the stable toolchain with
//! `--sanitizer none`), as a bounded test over a seed corpus and random mutations
//! (`cargo test -p server --test http fuzz::`), and for longer by hand (`scripts/fuzz`).

use std::sync::OnceLock;

use axum::extract::FromRequest;

/// One fuzz target: its name and the function that takes the input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("open311_form", open311_form),
    ("case_json", case_json),
    ("action_json", action_json),
    ("public_report_json", public_report_json),
    ("csv_import", csv_import),
    ("xlsx_import", xlsx_import),
    ("geojson", geojson),
    ("mapping_toml", mapping_toml),
    ("multipart", multipart),
    ("attachment", attachment),
    ("personal_fields", personal_fields),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the fuzz targets")
    })
}

fn rules() -> &'static domain::rules::Rules {
    static RULES: OnceLock<domain::rules::Rules> = OnceLock::new();
    RULES.get_or_init(domain::rules::Rules::gannan_default)
}

/// An Open311 `POST requests` body (and query): the form decoding and the fields the handler
/// reads from it.
pub fn open311_form(data: &[u8]) {
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (
            Some(String::from_utf8_lossy(&data[..i]).into_owned()),
            &data[i + 1..],
        ),
        None => (None, data),
    };
    let p = crate::routes::open311::params(query.as_deref(), Some(body));
    for k in ["lat", "long", "service_code", "address_id", "description"] {
        if let Some(v) = p.get(k) {
            let _ = v.trim().parse::<f64>();
        }
    }
    for k in ["start_date", "end_date"] {
        if let Some(v) = p.get(k) {
            let _ = crate::routes::open311::parse_time(crate::routes::open311::Format::Json, k, v);
        }
    }
}

/// The JSON body of `POST /api/v1/cases`, decoded and checked against the rules.
pub fn case_json(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<crate::actions::case::CreateCaseRequest>(data) {
        let _ = req.parse(rules(), domain::case::Channel::FieldApp);
    }
}

/// The JSON body of `POST /api/v1/cases/{id}/actions`: decoded as the handler decodes it, and
/// its fields read the way the command parser reads them.
pub fn action_json(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = crate::actions::case::command_fields(&v);
}

/// The JSON body of `POST /api/v1/public/reports`.
pub fn public_report_json(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<crate::actions::resident::PublicReportRequest>(data) {
        let _ = req.parse(rules(), domain::case::Channel::ResidentPage);
    }
}

fn sheet(data: &[u8], format: crate::transfer::sheet::Format) {
    let Ok(mut file) = tempfile::Builder::new()
        .prefix("gesang-fuzz-")
        .suffix(&format!(".{}", format.extension()))
        .tempfile()
    else {
        return;
    };
    if std::io::Write::write_all(&mut file, data).is_err() {
        return;
    }
    let path = file.path().to_owned();
    runtime().block_on(async move {
        if let Ok(mut rows) = crate::transfer::sheet::open(path, Some(format)).await {
            let mut n = 0;
            while let Some(row) = rows.next().await {
                n += 1;
                if row.is_err() || n > 10_000 {
                    break;
                }
            }
        }
    });
    drop(file);
}

/// A spreadsheet import as CSV: the streaming reader the importers use.
pub fn csv_import(data: &[u8]) {
    sheet(data, crate::transfer::sheet::Format::Csv);
}

/// A spreadsheet import as .xlsx.
pub fn xlsx_import(data: &[u8]) {
    sheet(data, crate::transfer::sheet::Format::Xlsx);
}

/// A stored or imported GeoJSON outline.
pub fn geojson(data: &[u8]) {
    let _ = crate::actions::territory::parse_multipolygon(&String::from_utf8_lossy(data));
}

/// A legacy import's TOML column mapping, parsed and compiled against the first line as the
/// header, then applied to the second.
pub fn mapping_toml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (toml, rest) = text.split_once("\n---\n").unwrap_or((&text, ""));
    let Ok(m) = crate::transfer::cases::parse_mapping(toml) else {
        return;
    };
    let mut lines = rest.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_owned)
        .collect();
    let Ok(compiled) = m.compile(&header, &|_| true, &|_| true) else {
        return;
    };
    if let Some(record) = lines.next() {
        let fields: Vec<&str> = record.split(',').collect();
        let _ = compiled.record(&fields);
    }
}

/// A multipart upload: the reader of the attachment and import endpoints.
pub fn multipart(data: &[u8]) {
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/")
        .header(
            axum::http::header::CONTENT_TYPE,
            "multipart/form-data; boundary=XfuzzX",
        )
        .body(axum::body::Body::from(data.to_vec()));
    let Ok(req) = req else { return };
    runtime().block_on(async move {
        let mp = axum::extract::Multipart::from_request(req, &()).await;
        let _ = crate::routes::api_attachments::read_multipart(mp).await;
    });
}

/// An uploaded photo or audio note: sniffing, container parsing, metadata removal.
pub fn attachment(data: &[u8]) {
    let _ = domain::attachment::check(None, data.to_vec());
}

/// The personal fields of imports and forms: phone, ID number, address.
pub fn personal_fields(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let _ = domain::org::parse_phone(&s);
    let _ = domain::org::parse_id_number(&s);
    let _ = domain::org::parse_text("address", &s, 200);
    let _ = domain::text::mask_phone(&s);
    let _ = domain::text::mask_id_number(&s);
    let _ = domain::text::mask_address(&s);
}
