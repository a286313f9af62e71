//! The fuzz targets of `server::fuzzing` as a bounded test (issue 9): each target gets its seed
//! inputs, the files of `fuzz/corpus/<target>/` when there are any (cargo-fuzz keeps its finds
//! there), and random mutations of them. A panic fails the test and prints the input.
//!
//! `GESANG_FUZZ_ITERS` mutations per target (default 300), or as many as fit in
//! `GESANG_FUZZ_SECONDS` per target when that is set (`scripts/fuzz` without cargo-fuzz).

use super::*;

const BOSTON_MAPPING: &str = include_str!("../../../../examples/import/boston-311.toml");

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = match target {
        "open311_form" => vec![
            b"jurisdiction_id=gannan\nservice_code=management.environment.garbage&lat=35.0&long=102.5&description=%E5%9E%83%E5%9C%BE&address_string=x&start_date=2025-01-01T00:00:00Z&end_date=2025-13-01".to_vec(),
            b"api_key=k&first_name=%E5%8D%93&last_name=+&phone=%2B86139&attribute%5Bdatum%5D=gcj02".to_vec(),
        ],
        "case_json" => vec![
            br#"{"category":"management.environment.garbage","description":"x","territory":"623027202201","location":{"lng":102.5,"lat":35.2,"datum":"gcj02"},"reporter":{"name":"a","phone":"13900000000"},"urgency":"urgent","channel":"field_app"}"#.to_vec(),
            br#"{"category":"attention.dispute.pasture","description":"","location":{"lng":1e308,"lat":-1e308}}"#.to_vec(),
        ],
        "action_json" => vec![
            br#"{"action":"dispatch","to":"623027-police","reason":"r"}"#.to_vec(),
            br#"{"action":"merge","into":"12"}"#.to_vec(),
        ],
        "public_report_json" => vec![
            br#"{"category":"management.environment.garbage","description":"x","village":"623027202201","reporter":{"name":"a","phone":"139"},"anonymous":false,"idempotency_key":"k1"}"#.to_vec(),
            br#"{"category":"x","description":"y","location":{"lng":102.5,"lat":35.2}}"#.to_vec(),
        ],
        "csv_import" => vec![
            "\u{feff}编号,户主姓名,电话,身份证号\n1,卓玛,13900000000,62302719800101001X\n,\"才让\n次\",,\n".as_bytes().to_vec(),
            b"a;b\n\"unterminated\n".to_vec(),
        ],
        "xlsx_import" => vec![xlsx_seed()],
        "geojson" => vec![
            br#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}"#.to_vec(),
            br#"{"type":"MultiPolygon","coordinates":[[[[102.5,35.0],[102.6,35.0],[102.6,35.1],[102.5,35.0]]]]}"#.to_vec(),
        ],
        "mapping_toml" => vec![
            format!(
                "{BOSTON_MAPPING}\n---\ncase_enquiry_id,open_dt,closed_dt,case_status,type,latitude,longitude\n101001,2015-01-01 00:00:00,,Open,Pothole,42.3,-71.0"
            )
            .into_bytes(),
        ],
        "multipart" => vec![
            b"--XfuzzX\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xd9\r\n--XfuzzX\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XfuzzX--\r\n".to_vec(),
        ],
        "attachment" => vec![
            b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xd9".to_vec(),
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00".to_vec(),
            b"RIFF\x10\x00\x00\x00WEBPVP8 ".to_vec(),
        ],
        "personal_fields" => vec![
            b"62302719800101001X".to_vec(),
            b"+86 139-0000-0000".to_vec(),
            "夏河县拉卜楞镇1号".as_bytes().to_vec(),
        ],
        _ => vec![],
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(b) = std::fs::read(e.path()) {
                out.push(b);
            }
        }
    }
    out
}

fn xlsx_seed() -> Vec<u8> {
    use server::transfer::sheet::{Cell, Column, Format, SheetWriter};
    let tmp = tempfile::Builder::new().suffix(".xlsx").tempfile().unwrap();
    let cols = [
        Column {
            header: "编号",
            width: 8.0,
        },
        Column {
            header: "户主姓名",
            width: 12.0,
        },
    ];
    let mut w = SheetWriter::create(tmp.path(), Format::Xlsx, "户籍", &cols).unwrap();
    w.write_row(&[Cell::Int(1), "卓玛".into()]).unwrap();
    w.finish().unwrap();
    std::fs::read(tmp.path()).unwrap()
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"\\u0000",
    b"\0",
    b"\r\n",
    b"\n---\n",
    b"%",
    b"%ZZ",
    b"-1",
    b"0",
    b"1e999",
    b"NaN",
    b"99999999999999999999",
    b"null",
    b"true",
    b"\xff\xfe",
    b"=",
    b"&",
    b"\xe5\x9e",
    b"--XfuzzX",
    b"\r\n\r\n",
    b"[[",
    b"]]",
    b"\"\"\"",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                let n = rng.below(b.len() - i).min(64) + 1;
                b.drain(i..(i + n).min(b.len()));
            }
            2 => {
                let i = rng.below(b.len() + 1);
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(i..i, t.iter().copied());
            }
            3 if !b.is_empty() => {
                let i = rng.below(b.len());
                let n = rng.below(b.len() - i).min(256) + 1;
                let chunk: Vec<u8> = b[i..(i + n).min(b.len())].to_vec();
                let at = rng.below(b.len() + 1);
                b.splice(at..at, chunk);
            }
            4 => {
                let cut = rng.below(b.len() + 1);
                b.truncate(cut);
            }
            5 => {
                let i = rng.below(b.len() + 1);
                let n = rng.below(16) + 1;
                let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(i..i, junk);
            }
            _ if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = [0u8, 0xff, b'9', b'"', b'\\'][rng.below(5)];
            }
            _ => b.push(rng.next() as u8),
        }
    }
    b
}

#[tokio::test]
async fn every_fuzz_target_survives_its_corpus_and_random_mutations() {
    let _app = App::new().await;
    let iters: u64 = std::env::var("GESANG_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seconds: Option<f64> = std::env::var("GESANG_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok());
    let only = std::env::var("GESANG_FUZZ_TARGET").ok();
    // The targets block on a runtime of their own: run them off this one.
    let report = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut failures = Vec::new();
        for (name, target) in server::fuzzing::TARGETS {
            if only.as_deref().is_some_and(|o| o != *name) {
                continue;
            }
            let seeds = seeds(name);
            assert!(!seeds.is_empty(), "target {name} has no seed");
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
            let started = std::time::Instant::now();
            let mut n = 0u64;
            let mut run = |input: Vec<u8>, n: &mut u64| {
                *n += 1;
                let t = *target;
                let copy = input.clone();
                if std::panic::catch_unwind(move || t(&copy)).is_err() {
                    failures.push(format!(
                        "{name} panicked on {} bytes: {:?}",
                        input.len(),
                        String::from_utf8_lossy(&input)
                            .chars()
                            .take(400)
                            .collect::<String>()
                    ));
                }
            };
            for s in &seeds {
                run(s.clone(), &mut n);
            }
            loop {
                let done = match seconds {
                    Some(s) => started.elapsed().as_secs_f64() >= s,
                    None => n >= iters + seeds.len() as u64,
                };
                if done {
                    break;
                }
                let seed = &seeds[rng.below(seeds.len())];
                let input = mutate(&mut rng, seed);
                run(input, &mut n);
            }
            lines.push(format!(
                "  {name:<20} {n:>8} inputs in {:>6.1} s",
                started.elapsed().as_secs_f64()
            ));
        }
        (lines, failures)
    })
    .await
    .unwrap();
    eprintln!("fuzz targets:\n{}", report.0.join("\n"));
    assert!(report.1.is_empty(), "{}", report.1.join("\n"));
}
