//! Attachments (photos and audio notes) judged from their bytes: what a file really is (never
//! what the client says), whether it is within the limits, and photos cleaned of location
//! metadata before anything is stored.
//!
//! An attachment belongs to an owner ([`OwnerKind`] + id: a case, optionally the event it came
//! with; a work log). Photos must be JPEG, PNG or WebP: recognised by their magic bytes, then
//! parsed as containers (`img-parts`) with their dimensions read from the frame header. EXIF,
//! XMP, IPTC, text chunks and comments are removed (they carry GPS positions, device serials
//! and names); only the EXIF orientation is written back, in a minimal EXIF block of its own, so
//! that a photo taken sideways still shows upright. Bytes after the end of a JPEG image
//! (MPF secondary images, vendor trailers) are dropped as well. Audio notes are recognised by
//! their container's signature (WebM, Ogg, MP4/M4A/3GP, MP3, AAC, WAV, AMR).
//!
//! Limits (also in the API documentation): a photo ≤ [`MAX_PHOTO_BYTES`] (8 MiB) and ≤
//! [`MAX_SIDE`] pixels a side, [`MAX_PHOTOS`] (6) photos per owner; an audio note ≤
//! [`MAX_AUDIO_BYTES`] (10 MiB, about ten minutes of AAC at 128 kbit/s; the reporting page
//! records at most three minutes), [`MAX_AUDIO`] (2) per owner.

use img_parts::jpeg::{Jpeg, JpegSegment, markers};
use img_parts::png::Png;
use img_parts::webp::{CHUNK_XMP, WebP};
use img_parts::{Bytes, ImageEXIF};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest photo accepted, in bytes (before metadata is stripped).
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;
/// Largest audio note accepted, in bytes.
pub const MAX_AUDIO_BYTES: usize = 10 * 1024 * 1024;
/// Photos per owner (a case, a work log).
pub const MAX_PHOTOS: usize = 6;
/// Audio notes per owner.
pub const MAX_AUDIO: usize = 2;
/// Longest side of a photo, in pixels.
pub const MAX_SIDE: u32 = 12_000;
/// Most pixels in a photo (a 48-megapixel phone camera fits).
pub const MAX_PIXELS: u64 = 60_000_000;

/// What an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Photo,
    Audio,
}

impl AttachmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Photo => "photo",
            AttachmentKind::Audio => "audio",
        }
    }

    pub fn parse(s: &str) -> Option<AttachmentKind> {
        match s {
            "photo" => Some(AttachmentKind::Photo),
            "audio" => Some(AttachmentKind::Audio),
            _ => None,
        }
    }

    /// Largest file of this kind, in bytes.
    pub fn max_bytes(self) -> usize {
        match self {
            AttachmentKind::Photo => MAX_PHOTO_BYTES,
            AttachmentKind::Audio => MAX_AUDIO_BYTES,
        }
    }

    /// Most files of this kind per owner.
    pub fn max_per_owner(self) -> usize {
        match self {
            AttachmentKind::Photo => MAX_PHOTOS,
            AttachmentKind::Audio => MAX_AUDIO,
        }
    }
}

/// What an attachment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    /// A case (optionally one event of its history: the report, "report handled", …).
    Case,
    /// A work log (台账) entry of the field app.
    Worklog,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Case => "case",
            OwnerKind::Worklog => "worklog",
        }
    }

    pub fn parse(s: &str) -> Option<OwnerKind> {
        match s {
            "case" => Some(OwnerKind::Case),
            "worklog" => Some(OwnerKind::Worklog),
            _ => None,
        }
    }
}

/// A content type recognised from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    Jpeg,
    Png,
    Webp,
    /// WebM (Chrome's and Android's `MediaRecorder`).
    Webm,
    /// Ogg (Firefox's `MediaRecorder`; Opus or Vorbis).
    Ogg,
    /// MP4/M4A (Safari and iOS record AAC in MP4).
    Mp4,
    /// 3GP (older Android voice recorders).
    ThreeGp,
    Mp3,
    /// AAC in ADTS frames.
    Aac,
    Wav,
    /// AMR narrow-band (feature phones, WeChat exports).
    Amr,
}

impl ContentType {
    /// Every recognised type.
    pub const ALL: [ContentType; 11] = [
        ContentType::Jpeg,
        ContentType::Png,
        ContentType::Webp,
        ContentType::Webm,
        ContentType::Ogg,
        ContentType::Mp4,
        ContentType::ThreeGp,
        ContentType::Mp3,
        ContentType::Aac,
        ContentType::Wav,
        ContentType::Amr,
    ];

    /// The MIME type served with it.
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Jpeg => "image/jpeg",
            ContentType::Png => "image/png",
            ContentType::Webp => "image/webp",
            ContentType::Webm => "audio/webm",
            ContentType::Ogg => "audio/ogg",
            ContentType::Mp4 => "audio/mp4",
            ContentType::ThreeGp => "audio/3gpp",
            ContentType::Mp3 => "audio/mpeg",
            ContentType::Aac => "audio/aac",
            ContentType::Wav => "audio/wav",
            ContentType::Amr => "audio/amr",
        }
    }

    /// The stored MIME type back to the type.
    pub fn from_mime(s: &str) -> Option<ContentType> {
        ContentType::ALL.into_iter().find(|c| c.mime() == s)
    }

    /// A file name extension (for download names and Open311 media URLs).
    pub fn extension(self) -> &'static str {
        match self {
            ContentType::Jpeg => "jpg",
            ContentType::Png => "png",
            ContentType::Webp => "webp",
            ContentType::Webm => "webm",
            ContentType::Ogg => "ogg",
            ContentType::Mp4 => "m4a",
            ContentType::ThreeGp => "3gp",
            ContentType::Mp3 => "mp3",
            ContentType::Aac => "aac",
            ContentType::Wav => "wav",
            ContentType::Amr => "amr",
        }
    }

    pub fn kind(self) -> AttachmentKind {
        match self {
            ContentType::Jpeg | ContentType::Png | ContentType::Webp => AttachmentKind::Photo,
            _ => AttachmentKind::Audio,
        }
    }
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    #[error("the file is empty")]
    Empty,
    #[error("the {} is larger than {} MB", kind.as_str(), max / (1024 * 1024))]
    TooLarge { kind: AttachmentKind, max: usize },
    #[error(
        "the file is not a photo (JPEG, PNG, WebP) or an audio note (WebM, Ogg, MP4, MP3, AAC, WAV, AMR)"
    )]
    NotRecognised,
    #[error("expected a {}, got a {} file", expected.as_str(), found.as_str())]
    WrongKind {
        expected: AttachmentKind,
        found: AttachmentKind,
    },
    #[error("the photo is damaged or not really an image: {0}")]
    Corrupt(String),
    #[error(
        "the photo is {width}×{height} pixels; at most {MAX_SIDE} a side and {MAX_PIXELS} in all"
    )]
    Dimensions { width: u32, height: u32 },
    #[error("at most {max} {}", if kind == &AttachmentKind::Photo { "photos" } else { "audio notes" })]
    TooMany { kind: AttachmentKind, max: usize },
}

impl AttachmentError {
    /// Stable snake_case code for API errors and translations.
    pub fn code(&self) -> &'static str {
        match self {
            AttachmentError::Empty => "attachment_empty",
            AttachmentError::TooLarge { .. } => "attachment_too_large",
            AttachmentError::NotRecognised => "attachment_not_recognised",
            AttachmentError::WrongKind { .. } => "attachment_wrong_kind",
            AttachmentError::Corrupt(_) => "attachment_corrupt",
            AttachmentError::Dimensions { .. } => "attachment_dimensions",
            AttachmentError::TooMany { .. } => "attachment_too_many",
        }
    }
}

/// A file that passed every check, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub kind: AttachmentKind,
    pub content_type: ContentType,
    /// The bytes to store (for photos: with the metadata removed).
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes` (also the HTTP ETag).
    pub sha256: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl Checked {
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
}

/// The content type of `bytes`, from their signature alone.
pub fn sniff(b: &[u8]) -> Option<ContentType> {
    let at = |i: usize, sig: &[u8]| b.get(i..i + sig.len()) == Some(sig);
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return Some(ContentType::Jpeg);
    }
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return Some(ContentType::Png);
    }
    if at(0, b"RIFF") && at(8, b"WEBP") {
        return Some(ContentType::Webp);
    }
    if at(0, b"RIFF") && at(8, b"WAVE") {
        return Some(ContentType::Wav);
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(ContentType::Webm);
    }
    if at(0, b"OggS") {
        return Some(ContentType::Ogg);
    }
    if at(0, b"#!AMR") {
        return Some(ContentType::Amr);
    }
    if at(4, b"ftyp") {
        let brand = b.get(8..12)?;
        return Some(if brand.starts_with(b"3g") {
            ContentType::ThreeGp
        } else {
            ContentType::Mp4
        });
    }
    if at(0, b"ID3") {
        return Some(ContentType::Mp3);
    }
    match (b.first(), b.get(1)) {
        // ADTS: 12 sync bits, then MPEG version, layer 00.
        (Some(0xFF), Some(x)) if x & 0xF6 == 0xF0 => Some(ContentType::Aac),
        // MPEG audio frame: 11 sync bits, layer III.
        (Some(0xFF), Some(x)) if x & 0xE0 == 0xE0 && x & 0x06 == 0x02 => Some(ContentType::Mp3),
        _ => None,
    }
}

/// Check a file: its real type (which must be of `expected` kind when the client said which),
/// its size, and for photos their structure and dimensions; photos come back without their
/// metadata. Nothing the client declared (name, type) is trusted.
pub fn check(expected: Option<AttachmentKind>, bytes: Vec<u8>) -> Result<Checked, AttachmentError> {
    if bytes.is_empty() {
        return Err(AttachmentError::Empty);
    }
    let content_type = sniff(&bytes).ok_or(AttachmentError::NotRecognised)?;
    let kind = content_type.kind();
    if let Some(expected) = expected
        && expected != kind
    {
        return Err(AttachmentError::WrongKind {
            expected,
            found: kind,
        });
    }
    if bytes.len() > kind.max_bytes() {
        return Err(AttachmentError::TooLarge {
            kind,
            max: kind.max_bytes(),
        });
    }
    let (bytes, width, height) = match content_type {
        ContentType::Jpeg => clean_jpeg(bytes)?,
        ContentType::Png => clean_png(bytes)?,
        ContentType::Webp => clean_webp(bytes)?,
        _ => (bytes, None, None),
    };
    if let (Some(w), Some(h)) = (width, height)
        && (w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS)
    {
        return Err(AttachmentError::Dimensions {
            width: w,
            height: h,
        });
    }
    let sha256 = hex(&Sha256::digest(&bytes));
    Ok(Checked {
        kind,
        content_type,
        bytes,
        sha256,
        width,
        height,
    })
}

/// Whether `adding` more files of `kind` fit next to `existing` ones of the same owner.
pub fn check_count(
    kind: AttachmentKind,
    existing: usize,
    adding: usize,
) -> Result<(), AttachmentError> {
    if existing + adding > kind.max_per_owner() {
        return Err(AttachmentError::TooMany {
            kind,
            max: kind.max_per_owner(),
        });
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn corrupt(e: impl std::fmt::Display) -> AttachmentError {
    AttachmentError::Corrupt(e.to_string())
}

/// The EXIF orientation (1–8) of raw EXIF (TIFF) data, when it says anything but "upright".
fn orientation(raw_exif: Option<Bytes>) -> Option<u16> {
    let exif = exif::Reader::new().read_raw(raw_exif?.to_vec()).ok()?;
    let o = exif
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)?
        .value
        .get_uint(0)?;
    u16::try_from(o).ok().filter(|o| (2..=8).contains(o))
}

/// A minimal EXIF (TIFF) block holding nothing but the orientation: big-endian header, one IFD
/// with one SHORT entry, no next IFD. This is all that is kept of a photo's EXIF.
fn orientation_exif(o: u16) -> Bytes {
    let mut b = Vec::with_capacity(26);
    b.extend_from_slice(b"MM\0*");
    b.extend_from_slice(&8u32.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&0x0112u16.to_be_bytes());
    b.extend_from_slice(&3u16.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&o.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&0u32.to_be_bytes());
    Bytes::from(b)
}

type Cleaned = (Vec<u8>, Option<u32>, Option<u32>);

fn clean_jpeg(bytes: Vec<u8>) -> Result<Cleaned, AttachmentError> {
    let mut jpeg = Jpeg::from_bytes(Bytes::from(bytes)).map_err(corrupt)?;
    let (w, h) = jpeg
        .dimensions()
        .ok_or_else(|| corrupt("no frame header"))?;
    if !jpeg.segments().iter().any(|s| s.marker() == markers::SOS) {
        return Err(corrupt("no image data"));
    }
    let keep_orientation = orientation(jpeg.exif());
    // APP1 holds EXIF and XMP, APP13 IPTC (Photoshop), COM free comments; MPF (in APP2) points
    // at the secondary images that are cut off below. ICC profiles (APP2) and the JFIF and
    // Adobe segments stay: they change how the picture looks.
    jpeg.segments_mut().retain(|s| {
        let c = s.contents();
        !(matches!(s.marker(), markers::APP1 | markers::APP13 | markers::COM)
            || (s.marker() == markers::APP2 && c.starts_with(b"MPF\0")))
    });
    jpeg.set_exif(keep_orientation.map(orientation_exif));
    // The scan's entropy-coded data runs to the end of the file as parsed: cut the output after
    // the image's end marker, so nothing appended after the picture survives. Inside
    // entropy-coded data a 0xFF is always followed by 0x00 or a marker, so the first FF D9
    // after the scan header is the end of the image.
    let scan_data = 2
        + jpeg
            .segments()
            .iter()
            .take_while(|s| s.marker() != markers::SOS)
            .map(JpegSegment::len)
            .sum::<usize>()
        + jpeg
            .segments()
            .iter()
            .find(|s| s.marker() == markers::SOS)
            .map_or(0, JpegSegment::len);
    let mut out = jpeg.encoder().bytes().to_vec();
    let end = out
        .get(scan_data..)
        .and_then(|data| data.windows(2).position(|w| w == [0xFF, markers::EOI]))
        .ok_or_else(|| corrupt("the image data has no end"))?;
    out.truncate(scan_data + end + 2);
    Ok((out, Some(u32::from(w)), Some(u32::from(h))))
}

fn clean_png(bytes: Vec<u8>) -> Result<Cleaned, AttachmentError> {
    let mut png = Png::from_bytes(Bytes::from(bytes)).map_err(corrupt)?;
    let (w, h) = png.dimensions().ok_or_else(|| corrupt("no header"))?;
    if png.chunk_by_type(*b"IDAT").is_none() {
        return Err(corrupt("no image data"));
    }
    let keep_orientation = orientation(png.exif());
    // Text chunks carry XMP (iTXt), comments and anything a tool wrote; eXIf the EXIF.
    for kind in [*b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"] {
        png.remove_chunks_by_type(kind);
    }
    png.set_exif(keep_orientation.map(orientation_exif));
    Ok((png.encoder().bytes().to_vec(), Some(w), Some(h)))
}

fn clean_webp(bytes: Vec<u8>) -> Result<Cleaned, AttachmentError> {
    let mut webp = WebP::from_bytes(Bytes::from(bytes)).map_err(corrupt)?;
    let (w, h) = webp.dimensions().ok_or_else(|| corrupt("no image data"))?;
    let keep_orientation = orientation(webp.exif());
    webp.remove_chunks_by_id(CHUNK_XMP);
    // set_exif also brings the VP8X flags in line with the chunks that remain.
    webp.set_exif(keep_orientation.map(orientation_exif));
    Ok((webp.encoder().bytes().to_vec(), Some(w), Some(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG_GPS: &[u8] = include_bytes!("../testdata/photo-gps.jpg");
    const PNG_GPS: &[u8] = include_bytes!("../testdata/photo-gps.png");
    const WEBP_GPS: &[u8] = include_bytes!("../testdata/photo-gps.webp");
    const JPEG_PLAIN: &[u8] = include_bytes!("../testdata/plain.jpg");

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn sniffing_reads_the_signature_not_the_name() {
        let cases: &[(&[u8], Option<ContentType>)] = &[
            (JPEG_GPS, Some(ContentType::Jpeg)),
            (PNG_GPS, Some(ContentType::Png)),
            (WEBP_GPS, Some(ContentType::Webp)),
            (b"RIFF\x24\0\0\0WAVEfmt ", Some(ContentType::Wav)),
            (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", Some(ContentType::Webm)),
            (b"OggS\0\x02\0\0\0\0", Some(ContentType::Ogg)),
            (b"\0\0\0\x20ftypM4A \0\0\0\0", Some(ContentType::Mp4)),
            (b"\0\0\0\x18ftyp3gp4\0\0\0\0", Some(ContentType::ThreeGp)),
            (b"ID3\x04\0\0\0\0\0\0", Some(ContentType::Mp3)),
            (b"\xff\xfb\x90\x64", Some(ContentType::Mp3)),
            (b"\xff\xf1\x50\x80", Some(ContentType::Aac)),
            (b"#!AMR\n\x3c", Some(ContentType::Amr)),
            (b"GIF89a\x01\0\x01\0", None),
            (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
            (b"%PDF-1.7", None),
            (b"MZ\x90\0", None),
            (b"", None),
            (b"\xff", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff(bytes), *want, "{:?}", &bytes[..bytes.len().min(8)]);
        }
        for c in ContentType::ALL {
            assert_eq!(ContentType::from_mime(c.mime()), Some(c));
        }
    }

    #[test]
    fn jpeg_loses_gps_and_xmp_and_keeps_orientation() {
        assert!(contains(JPEG_GPS, b"Exif\0\0"));
        assert!(contains(JPEG_GPS, b"TestCam"));
        assert!(contains(JPEG_GPS, b"GPSLatitude"));
        let c = check(Some(AttachmentKind::Photo), JPEG_GPS.to_vec()).unwrap();
        assert_eq!(c.content_type, ContentType::Jpeg);
        assert_eq!((c.width, c.height), (Some(64), Some(48)));
        assert!(!contains(&c.bytes, b"TestCam"), "EXIF maker stays");
        assert!(!contains(&c.bytes, b"GPSLatitude"), "XMP stays");
        assert!(!contains(&c.bytes, b"http://ns.adobe.com"), "XMP stays");
        let exif = Jpeg::from_bytes(Bytes::from(c.bytes.clone()))
            .unwrap()
            .exif()
            .expect("orientation kept");
        let parsed = exif::Reader::new().read_raw(exif.to_vec()).unwrap();
        assert_eq!(parsed.fields().count(), 1, "only the orientation is left");
        assert_eq!(orientation(Some(exif)), Some(6));
        assert!(!has_gps(&c.bytes));
        // The cleaned file is still a JPEG that parses, and cleaning it again changes nothing.
        let again = check(None, c.bytes.clone()).unwrap();
        assert_eq!(again.bytes, c.bytes);
        assert_eq!(again.sha256, c.sha256);
        assert_eq!(c.sha256.len(), 64);
    }

    fn has_gps(bytes: &[u8]) -> bool {
        let Some(ct) = sniff(bytes) else { return false };
        let raw = match ct {
            ContentType::Jpeg => Jpeg::from_bytes(Bytes::from(bytes.to_vec()))
                .unwrap()
                .exif(),
            ContentType::Png => Png::from_bytes(Bytes::from(bytes.to_vec())).unwrap().exif(),
            ContentType::Webp => WebP::from_bytes(Bytes::from(bytes.to_vec()))
                .unwrap()
                .exif(),
            _ => None,
        };
        raw.and_then(|r| exif::Reader::new().read_raw(r.to_vec()).ok())
            .is_some_and(|e| {
                e.get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
                    .is_some()
            })
    }

    #[test]
    fn the_fixtures_really_carry_gps() {
        assert!(has_gps(JPEG_GPS));
        assert!(has_gps(PNG_GPS));
        assert!(has_gps(WEBP_GPS));
    }

    #[test]
    fn png_and_webp_lose_their_metadata() {
        for (bytes, ct) in [(PNG_GPS, ContentType::Png), (WEBP_GPS, ContentType::Webp)] {
            assert!(contains(bytes, b"TestCam"));
            let c = check(Some(AttachmentKind::Photo), bytes.to_vec()).unwrap();
            assert_eq!(c.content_type, ct);
            assert_eq!((c.width, c.height), (Some(64), Some(48)));
            assert!(!contains(&c.bytes, b"TestCam"), "{ct:?}");
            assert!(!contains(&c.bytes, b"GPSLatitude"), "{ct:?}");
            assert!(!contains(&c.bytes, b"Location"), "{ct:?}");
            assert!(!has_gps(&c.bytes), "{ct:?}");
            assert_eq!(check(None, c.bytes.clone()).unwrap().bytes, c.bytes);
        }
    }

    #[test]
    fn a_photo_without_metadata_stays_as_it_was_but_for_trailers() {
        let c = check(None, JPEG_PLAIN.to_vec()).unwrap();
        assert_eq!(c.bytes, JPEG_PLAIN);
        let mut trailer = JPEG_PLAIN.to_vec();
        trailer.extend_from_slice(b"GPS 35.1 102.5 appended by a vendor");
        let c = check(None, trailer).unwrap();
        assert_eq!(c.bytes, JPEG_PLAIN, "bytes after the image are dropped");
    }

    #[test]
    fn refusals_name_the_problem() {
        let cases: Vec<(Option<AttachmentKind>, Vec<u8>, &str)> = vec![
            (None, vec![], "attachment_empty"),
            (
                None,
                b"hello, this is text".to_vec(),
                "attachment_not_recognised",
            ),
            (
                None,
                b"<?xml version='1.0'?><svg/>".to_vec(),
                "attachment_not_recognised",
            ),
            (
                Some(AttachmentKind::Photo),
                b"OggS\0\x02\0\0".to_vec(),
                "attachment_wrong_kind",
            ),
            (
                Some(AttachmentKind::Audio),
                JPEG_PLAIN.to_vec(),
                "attachment_wrong_kind",
            ),
            // A JPEG signature with nothing behind it.
            (
                None,
                vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00],
                "attachment_corrupt",
            ),
            // Cut in the middle of the image data: no end marker.
            (
                None,
                JPEG_PLAIN[..JPEG_PLAIN.len() - 200].to_vec(),
                "attachment_corrupt",
            ),
            (None, PNG_GPS[..40].to_vec(), "attachment_corrupt"),
            (
                None,
                b"RIFF\x10\0\0\0WEBPVP8 \xff\xff\0\0".to_vec(),
                "attachment_corrupt",
            ),
        ];
        for (expected, bytes, code) in cases {
            let err = check(expected, bytes.clone()).unwrap_err();
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn size_limits_hold_per_kind() {
        let mut big = JPEG_PLAIN.to_vec();
        big.resize(MAX_PHOTO_BYTES + 1, 0);
        assert_eq!(
            check(None, big).unwrap_err(),
            AttachmentError::TooLarge {
                kind: AttachmentKind::Photo,
                max: MAX_PHOTO_BYTES
            }
        );
        let mut audio = b"OggS\0\x02".to_vec();
        audio.resize(MAX_AUDIO_BYTES, 7);
        let c = check(Some(AttachmentKind::Audio), audio.clone()).unwrap();
        assert_eq!(c.size(), MAX_AUDIO_BYTES);
        assert_eq!((c.width, c.height), (None, None));
        audio.push(0);
        assert_eq!(
            check(None, audio).unwrap_err().code(),
            "attachment_too_large"
        );
    }

    #[test]
    fn dimensions_are_bounded() {
        // A PNG header claiming 20000×20000 pixels.
        let mut png = Png::from_bytes(Bytes::from(PNG_GPS.to_vec())).unwrap();
        let ihdr = png.chunk_by_type(*b"IHDR").unwrap().contents().to_vec();
        let mut huge = ihdr.clone();
        huge[0..4].copy_from_slice(&20_000u32.to_be_bytes());
        huge[4..8].copy_from_slice(&20_000u32.to_be_bytes());
        png.chunks_mut()[0] = img_parts::png::PngChunk::new(*b"IHDR", Bytes::from(huge));
        let err = check(None, png.encoder().bytes().to_vec()).unwrap_err();
        assert_eq!(
            err,
            AttachmentError::Dimensions {
                width: 20_000,
                height: 20_000
            }
        );
    }

    #[test]
    fn counts_per_owner() {
        assert!(check_count(AttachmentKind::Photo, 0, 6).is_ok());
        assert!(check_count(AttachmentKind::Photo, 5, 1).is_ok());
        assert_eq!(
            check_count(AttachmentKind::Photo, 5, 2).unwrap_err().code(),
            "attachment_too_many"
        );
        assert!(check_count(AttachmentKind::Audio, 1, 1).is_ok());
        assert!(check_count(AttachmentKind::Audio, 2, 1).is_err());
        for k in [AttachmentKind::Photo, AttachmentKind::Audio] {
            assert_eq!(AttachmentKind::parse(k.as_str()), Some(k));
        }
        for o in [OwnerKind::Case, OwnerKind::Worklog] {
            assert_eq!(OwnerKind::parse(o.as_str()), Some(o));
        }
    }
}
