//! Spreadsheets in and out, streamed: CSV (UTF-8, with or without a BOM) and Excel `.xlsx`.
//!
//! Reading runs in a blocking thread that sends rows through a small bounded channel, so a file
//! of any size costs a few rows of memory (plus, for `.xlsx`, its shared-string table, which the
//! format requires). Writing goes row by row: CSV straight to the output, `.xlsx` through
//! rust_xlsxwriter's constant-memory mode (rows are flushed to a temporary file as they come).
//! Column widths are set from the column definitions: autofit measures CJK text as Latin.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use calamine::{DataRef, Reader, Xlsx};
use tokio::sync::mpsc;

/// A spreadsheet format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s
            .trim()
            .trim_start_matches('.')
            .to_ascii_lowercase()
            .as_str()
        {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }

    /// The format a file name says.
    pub fn of_path(path: &Path) -> Option<Format> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(Format::parse)
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// Why a file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {message}")]
    Row { line: u64, message: String },
    #[error("the file is empty (no header row)")]
    Empty,
    #[error("not a readable {format} file: {message}")]
    Format {
        format: &'static str,
        message: String,
    },
    #[error("writing the spreadsheet failed: {0}")]
    Write(String),
}

/// One data row: its line in the file (the header is line 1) and its cells as text.
pub type Row = (u64, Vec<String>);

/// Rows of a file being read in the background.
pub struct Rows {
    pub header: Vec<String>,
    rx: mpsc::Receiver<Result<Row, SheetError>>,
}

impl Rows {
    /// The next row, or `None` at the end of the file.
    pub async fn next(&mut self) -> Option<Result<Row, SheetError>> {
        self.rx.recv().await
    }
}

/// Start reading `path` (its format from the extension unless given) and wait for its header.
pub async fn open(path: PathBuf, format: Option<Format>) -> Result<Rows, SheetError> {
    open_with(path, format, None).await
}

/// As [`open`], with a CSV delimiter other than `,`.
pub async fn open_with(
    path: PathBuf,
    format: Option<Format>,
    delimiter: Option<u8>,
) -> Result<Rows, SheetError> {
    let format = format
        .or_else(|| Format::of_path(&path))
        .ok_or_else(|| SheetError::Format {
            format: "csv or xlsx",
            message: format!("{}: name the file .csv or .xlsx", path.display()),
        })?;
    let (tx, rx) = mpsc::channel(1024);
    let (header_tx, header_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let result = match format {
            Format::Csv => read_csv(&path, delimiter.unwrap_or(b','), header_tx, &tx),
            Format::Xlsx => read_xlsx(&path, header_tx, &tx),
        };
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let header = header_rx.await.map_err(|_| SheetError::Empty)??;
    Ok(Rows { header, rx })
}

type HeaderTx = tokio::sync::oneshot::Sender<Result<Vec<String>, SheetError>>;

fn clean_header(h: Vec<String>) -> Vec<String> {
    h.into_iter()
        .map(|c| c.trim_start_matches('\u{feff}').trim().to_owned())
        .collect()
}

fn read_csv(
    path: &Path,
    delimiter: u8,
    header_tx: HeaderTx,
    tx: &mpsc::Sender<Result<Row, SheetError>>,
) -> Result<(), SheetError> {
    let file = std::fs::File::open(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(BufReader::with_capacity(256 * 1024, file));
    let mut records = reader.records();
    let header = match records.next() {
        None => {
            let _ = header_tx.send(Err(SheetError::Empty));
            return Ok(());
        }
        Some(Err(e)) => {
            let _ = header_tx.send(Err(csv_error(e)));
            return Ok(());
        }
        Some(Ok(r)) => clean_header(r.iter().map(str::to_owned).collect()),
    };
    if header_tx.send(Ok(header)).is_err() {
        return Ok(());
    }
    for r in records {
        let item = match r {
            Ok(rec) => {
                let line = rec.position().map_or(0, |p| p.line());
                if rec.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                Ok((line, rec.iter().map(str::to_owned).collect()))
            }
            Err(e) => Err(csv_error(e)),
        };
        if tx.blocking_send(item).is_err() {
            break;
        }
    }
    Ok(())
}

fn csv_error(e: csv::Error) -> SheetError {
    let line = e.position().map_or(0, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "the text is not UTF-8 (save the sheet as \"CSV UTF-8\", or as .xlsx)".to_owned()
        }
        _ => e.to_string(),
    };
    SheetError::Row { line, message }
}

/// A cell as the text a person would have typed: whole numbers without `.0` (phone numbers
/// and IDs stored as numbers), dates as `YYYY-MM-DD`, times as `YYYY-MM-DD HH:MM:SS`.
pub fn cell_text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Bool(true) => "是".to_owned(),
        DataRef::Bool(false) => "否".to_owned(),
        DataRef::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => d.as_f64().to_string(),
        },
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

fn read_xlsx(
    path: &Path,
    header_tx: HeaderTx,
    tx: &mpsc::Sender<Result<Row, SheetError>>,
) -> Result<(), SheetError> {
    let format_error = |e: calamine::XlsxError| SheetError::Format {
        format: "xlsx",
        message: e.to_string(),
    };
    let file = std::fs::File::open(path)?;
    let mut book: Xlsx<_> = match Xlsx::new(BufReader::new(file)) {
        Ok(b) => b,
        Err(e) => {
            let _ = header_tx.send(Err(format_error(e)));
            return Ok(());
        }
    };
    let Some(sheet) = book.sheet_names().first().cloned() else {
        let _ = header_tx.send(Err(SheetError::Empty));
        return Ok(());
    };
    let mut cells = match book.worksheet_cells_reader(&sheet) {
        Ok(c) => c,
        Err(e) => {
            let _ = header_tx.send(Err(format_error(e)));
            return Ok(());
        }
    };
    let mut header_tx = Some(header_tx);
    let mut current: Option<(u32, Vec<String>)> = None;
    let emit = |row: u32, cells: Vec<String>, header_tx: &mut Option<HeaderTx>| -> bool {
        if let Some(h) = header_tx.take() {
            return h.send(Ok(clean_header(cells))).is_ok();
        }
        if cells.iter().all(|c| c.trim().is_empty()) {
            return true;
        }
        tx.blocking_send(Ok((u64::from(row) + 1, cells))).is_ok()
    };
    loop {
        let next = match cells.next_cell() {
            Ok(c) => c,
            Err(e) => {
                let err = format_error(e);
                match header_tx.take() {
                    Some(h) => {
                        let _ = h.send(Err(err));
                    }
                    None => {
                        let _ = tx.blocking_send(Err(err));
                    }
                }
                return Ok(());
            }
        };
        let Some(cell) = next else { break };
        let (row, col) = cell.get_position();
        let text = cell_text(cell.get_value());
        match &mut current {
            Some((r, cols)) if *r == row => {
                let col = col as usize;
                if cols.len() <= col {
                    cols.resize(col + 1, String::new());
                }
                cols[col] = text;
            }
            _ => {
                if let Some((r, cols)) = current.take()
                    && !emit(r, cols, &mut header_tx)
                {
                    return Ok(());
                }
                let mut cols = vec![String::new(); col as usize + 1];
                cols[col as usize] = text;
                current = Some((row, cols));
            }
        }
    }
    if let Some((r, cols)) = current.take() {
        emit(r, cols, &mut header_tx);
    }
    if let Some(h) = header_tx.take() {
        let _ = h.send(Err(SheetError::Empty));
    }
    Ok(())
}

/// A column of an export: its Chinese header and its width in Excel character units (a CJK
/// character counts two).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub width: f64,
}

/// A cell to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Float(f64),
    Empty,
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}
impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Cell {
        Cell::Int(v)
    }
}
impl From<Option<String>> for Cell {
    fn from(s: Option<String>) -> Cell {
        s.map_or(Cell::Empty, Cell::Text)
    }
}
impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Cell {
        v.map_or(Cell::Empty, Cell::Float)
    }
}

/// A spreadsheet being written row by row.
pub enum SheetWriter {
    Csv(Box<csv::Writer<Box<dyn Write + Send>>>),
    Xlsx {
        book: Box<rust_xlsxwriter::Workbook>,
        row: u32,
        path: PathBuf,
    },
}

fn write_error(e: rust_xlsxwriter::XlsxError) -> SheetError {
    SheetError::Write(e.to_string())
}

impl SheetWriter {
    /// Start a file at `path` with a header row. A CSV gets a UTF-8 BOM, so that Excel opens
    /// the Chinese text right.
    pub fn create(
        path: &Path,
        format: Format,
        sheet: &str,
        columns: &[Column],
    ) -> Result<SheetWriter, SheetError> {
        match format {
            Format::Csv => {
                let mut file =
                    std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(path)?);
                file.write_all("\u{feff}".as_bytes())?;
                let out: Box<dyn Write + Send> = Box::new(file);
                let mut w = csv::Writer::from_writer(out);
                w.write_record(columns.iter().map(|c| c.header))
                    .map_err(|e| SheetError::Write(e.to_string()))?;
                Ok(SheetWriter::Csv(Box::new(w)))
            }
            Format::Xlsx => {
                let mut book = rust_xlsxwriter::Workbook::new();
                let tmp = std::env::temp_dir();
                book.set_tempdir(&tmp).map_err(write_error)?;
                let ws = book
                    .add_worksheet_with_constant_memory()
                    .map_err(write_error)?;
                ws.set_name(sheet).map_err(write_error)?;
                let bold = rust_xlsxwriter::Format::new()
                    .set_bold()
                    .set_background_color(rust_xlsxwriter::Color::RGB(0xE8EEF4));
                for (i, c) in columns.iter().enumerate() {
                    let col = i as u16;
                    ws.set_column_width(col, c.width).map_err(write_error)?;
                    ws.write_string_with_format(0, col, c.header, &bold)
                        .map_err(write_error)?;
                }
                ws.set_freeze_panes(1, 0).map_err(write_error)?;
                Ok(SheetWriter::Xlsx {
                    book: Box::new(book),
                    row: 1,
                    path: path.to_owned(),
                })
            }
        }
    }

    pub fn write_row(&mut self, cells: &[Cell]) -> Result<(), SheetError> {
        match self {
            SheetWriter::Csv(w) => {
                let texts: Vec<String> = cells
                    .iter()
                    .map(|c| match c {
                        Cell::Text(s) => s.clone(),
                        Cell::Int(i) => i.to_string(),
                        Cell::Float(f) => f.to_string(),
                        Cell::Empty => String::new(),
                    })
                    .collect();
                w.write_record(&texts)
                    .map_err(|e| SheetError::Write(e.to_string()))
            }
            SheetWriter::Xlsx { book, row, .. } => {
                let ws = book.worksheet_from_index(0).map_err(write_error)?;
                for (i, c) in cells.iter().enumerate() {
                    let col = i as u16;
                    match c {
                        Cell::Text(s) if !s.is_empty() => {
                            ws.write_string(*row, col, s).map_err(write_error)?;
                        }
                        Cell::Int(v) => {
                            ws.write_number(*row, col, *v as f64).map_err(write_error)?;
                        }
                        Cell::Float(v) => {
                            ws.write_number(*row, col, *v).map_err(write_error)?;
                        }
                        Cell::Text(_) | Cell::Empty => {}
                    }
                }
                *row += 1;
                Ok(())
            }
        }
    }

    /// Finish the file (flush the CSV, assemble the workbook).
    pub fn finish(self) -> Result<(), SheetError> {
        match self {
            SheetWriter::Csv(mut w) => w.flush().map_err(SheetError::Io),
            SheetWriter::Xlsx { mut book, path, .. } => book.save(&path).map_err(write_error),
        }
    }
}

/// The display width of a text in Excel character units: CJK and Tibetan characters count two.
pub fn display_width(s: &str) -> f64 {
    s.chars()
        .map(|c| {
            let cp = c as u32;
            if (0x2E80..=0x9FFF).contains(&cp)
                || (0xF900..=0xFAFF).contains(&cp)
                || (0xFF00..=0xFF60).contains(&cp)
                || (0x0F00..=0x0FFF).contains(&cp)
            {
                2.0
            } else {
                1.0
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_widths() {
        assert_eq!(Format::parse("XLSX"), Some(Format::Xlsx));
        assert_eq!(Format::of_path(Path::new("a/b.csv")), Some(Format::Csv));
        assert_eq!(Format::of_path(Path::new("a/b.xls")), None);
        assert_eq!(display_width("户主abc"), 7.0);
        assert_eq!(cell_text(&DataRef::Float(13812345678.0)), "13812345678");
        assert_eq!(cell_text(&DataRef::Float(1.5)), "1.5");
        assert_eq!(cell_text(&DataRef::Bool(true)), "是");
    }
}
