//! Reading workbooks: open safely, list sheets, stream rows.
//!
//! Every format calamine knows is read here (`.xlsx`, `.xlsm`, `.xls`, `.ods`, and
//! `.xlsb` as a bonus). Before calamine sees a file, [`precheck`] looks at its bytes:
//! empty, not a spreadsheet, an encrypted OOXML package, a truncated or bomb-like zip
//! each get a precise [`ReadError`] instead of reaching the parser. xlsx sheets are
//! streamed cell by cell (calamine's cell reader), so memory follows what the sheet
//! holds, never what its `<dimension>` claims.

pub mod header;
pub mod shared;
pub mod value;

use calamine::{Data, DataRef, Reader, Sheets};
use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;
pub use value::Cell;

/// Limits applied before a file is parsed. The defaults suit a county or a
/// province; a file past them is refused with a message, never parsed.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Largest total of uncompressed zip members.
    pub max_unzipped_bytes: u64,
    /// Largest compression ratio of a zip member bigger than 10 MiB.
    pub max_ratio: u64,
    /// Most zip members.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 512 << 20,
            max_unzipped_bytes: 4 << 30,
            max_ratio: 200,
            max_entries: 10_000,
        }
    }
}

/// Why a file could not be read. The text is for the person who sent it (Chinese).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ReadError {
    #[error("无法打开文件：{0}")]
    Io(String),
    #[error("文件为空（0 字节），请重新保存后再报送")]
    Empty,
    #[error("文件过大（{size} 字节，上限 {limit} 字节）")]
    TooLarge { size: u64, limit: u64 },
    #[error("不是电子表格文件（不是 xlsx/xls/ods 格式），请用 Excel 或 WPS 另存为 .xlsx 后再报送")]
    NotSpreadsheet,
    #[error("文件设置了打开密码（已加密），系统无法读取，请取消密码后再报送")]
    Encrypted,
    #[error("文件不完整或已损坏（{0}），请重新保存后再报送")]
    Corrupt(String),
    #[error("文件异常：解压后体积过大（{0}），疑似恶意文件，已拒收")]
    Bomb(String),
    #[error("读取文件时发生内部错误（{0}），已记录，请联系县残联")]
    Panic(String),
}

/// The format a file's bytes say it is (whatever its extension claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

impl Format {
    /// Every format read.
    pub const ALL: [Format; 4] = [Format::Xlsx, Format::Xlsb, Format::Xls, Format::Ods];

    /// The format's usual name, as clerks know it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Xlsb => "xlsb",
            Format::Xls => "xls",
            Format::Ods => "ods",
        }
    }

    /// Whether a file name's extension (any case) fits this format.
    pub fn fits_extension(self, file_name: &str) -> bool {
        let ext = Path::new(file_name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let ok: &[&str] = match self {
            Format::Xlsx => &["xlsx", "xlsm", "xltx", "xltm"],
            Format::Xlsb => &["xlsb"],
            Format::Xls => &["xls", "xlt"],
            Format::Ods => &["ods"],
        };
        ok.contains(&ext.as_str())
    }
}

/// Looks at a file's bytes before any parser does, and says which format they are.
pub fn precheck(path: &Path, limits: &Limits) -> Result<Format, ReadError> {
    let meta = std::fs::metadata(path).map_err(|e| ReadError::Io(crate::fsutil::io_zh(&e)))?;
    if meta.len() == 0 {
        return Err(ReadError::Empty);
    }
    if meta.len() > limits.max_file_bytes {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit: limits.max_file_bytes,
        });
    }
    let mut head = [0u8; 8];
    let mut f = File::open(path).map_err(|e| ReadError::Io(crate::fsutil::io_zh(&e)))?;
    let n = read_up_to(&mut f, &mut head).map_err(|e| ReadError::Io(crate::fsutil::io_zh(&e)))?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        check_zip(f, limits)
    } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        if cfb_is_encrypted_ooxml(path)? {
            return Err(ReadError::Encrypted);
        }
        Ok(Format::Xls)
    } else {
        Err(ReadError::NotSpreadsheet)
    }
}

/// The most characters an Excel cell holds.
pub const EXCEL_MAX_CHARS: usize = 32_767;

/// Text as a cell can hold it: past [`EXCEL_MAX_CHARS`] it is cut, with a
/// visible mark saying so (writers never fail on a township's long text).
pub fn excel_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= EXCEL_MAX_CHARS || text.chars().count() <= EXCEL_MAX_CHARS {
        return std::borrow::Cow::Borrowed(text);
    }
    const MARK: &str = "……（内容超过 32767 字符，已截断）";
    let keep = EXCEL_MAX_CHARS - MARK.chars().count();
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(MARK);
    std::borrow::Cow::Owned(out)
}

/// Whether a file looks completely written, from its bytes alone (nothing is
/// parsed: the inbox asks this of untrusted files in the daemon's own process). A
/// zip package (xlsx, xlsm, ods) must end with its end-of-central-directory
/// record, which a copy still under way lacks; an OLE file (xls) must be whole
/// 512-byte sectors. Anything else is not known to be complete.
pub fn looks_complete(path: &Path) -> bool {
    use std::io::{Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return false;
    };
    let mut head = [0u8; 8];
    if read_up_to(&mut f, &mut head).ok() != Some(8) {
        return false;
    }
    if head.starts_with(b"PK") {
        // The EOCD record is 22 bytes plus a comment of at most 65,535.
        let tail_len = len.min(22 + 65_535);
        let mut tail = vec![0u8; tail_len as usize];
        if f.seek(SeekFrom::Start(len - tail_len)).is_err()
            || read_up_to(&mut f, &mut tail).ok() != Some(tail.len())
        {
            return false;
        }
        return tail.len() >= 22
            && (0..=tail.len() - 22).rev().any(|i| {
                tail[i..].starts_with(b"PK\x05\x06") && {
                    let comment = u16::from_le_bytes([tail[i + 20], tail[i + 21]]) as usize;
                    i + 22 + comment == tail.len()
                }
            });
    }
    if head == [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] {
        return len >= 1024 && len % 512 == 0;
    }
    false
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// An encrypted xlsx is a CFB file holding `EncryptionInfo` and `EncryptedPackage`
/// streams; their names are stored in UTF-16 in the directory.
fn cfb_is_encrypted_ooxml(path: &Path) -> Result<bool, ReadError> {
    let bytes = std::fs::read(path).map_err(|e| ReadError::Io(crate::fsutil::io_zh(&e)))?;
    let needle: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    Ok(bytes.windows(needle.len()).any(|w| w == needle.as_slice()))
}

fn check_zip(f: File, limits: &Limits) -> Result<Format, ReadError> {
    let mut zip = zip::ZipArchive::new(BufReader::new(f))
        .map_err(|e| ReadError::Corrupt(format!("压缩包结构无法识别：{e}")))?;
    if zip.len() > limits.max_entries {
        return Err(ReadError::Bomb(format!("包含 {} 个部件", zip.len())));
    }
    let mut total: u64 = 0;
    let mut format = None;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| ReadError::Corrupt(format!("压缩包部件损坏：{e}")))?;
        let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
        if name == "xl/workbook.bin" && format.is_none() {
            format = Some(Format::Xlsb);
        } else if name == "xl/workbook.xml" || name.ends_with("workbook.xml") {
            format = Some(Format::Xlsx);
        } else if name == "content.xml" && format.is_none() {
            format = Some(Format::Ods);
        }
        let size = entry.size();
        let packed = entry.compressed_size().max(1);
        total = total.saturating_add(size);
        if size > 10 << 20 && size / packed > limits.max_ratio {
            return Err(ReadError::Bomb(format!(
                "部件 {name} 压缩比 {}:1",
                size / packed
            )));
        }
    }
    if total > limits.max_unzipped_bytes {
        return Err(ReadError::Bomb(format!("共 {total} 字节")));
    }
    format.ok_or(ReadError::NotSpreadsheet)
}

/// A workbook opened for reading.
pub struct Book {
    sheets: Sheets<BufReader<File>>,
    is_1904: bool,
    format: Format,
    path: std::path::PathBuf,
    /// Shared string 0 of an xlsx (what calamine reads an unreadable index as).
    shared0: Option<String>,
}

/// A whole sheet held in memory, for rewriting it (the annotated copy).
#[derive(Debug, Default, Clone)]
pub struct SheetData {
    pub name: String,
    /// Non-empty cells in row order: (row, col, value).
    pub cells: Vec<(u32, u32, Cell<'static>)>,
    /// Merged ranges: (first row, first col, last row, last col).
    pub merges: Vec<(u32, u32, u32, u32)>,
}

impl Book {
    /// Opens a workbook after [`precheck`]. Panics inside the parser are caught and
    /// turned into [`ReadError::Panic`].
    /// The format is the one the bytes say, whatever the extension (WPS and
    /// "save as" leave an `.xls` named `.xlsx`).
    pub fn open(path: &Path, limits: &Limits) -> Result<Book, ReadError> {
        let format = precheck(path, limits)?;
        let opened = guard(|| -> Result<Sheets<BufReader<File>>, calamine::Error> {
            Ok(match format {
                Format::Xlsx => Sheets::Xlsx(calamine::open_workbook(path)?),
                Format::Xlsb => Sheets::Xlsb(calamine::open_workbook(path)?),
                Format::Xls => Sheets::Xls(calamine::open_workbook(path)?),
                Format::Ods => Sheets::Ods(calamine::open_workbook(path)?),
            })
        })?;
        let sheets = opened.map_err(map_calamine_error)?;
        let is_1904 = match &sheets {
            Sheets::Xlsx(x) => x.has_1904_epoch(),
            Sheets::Xls(x) => x.has_1904_epoch(),
            Sheets::Xlsb(x) => x.has_1904_epoch(),
            Sheets::Ods(_) => false,
        };
        let shared0 = match format {
            Format::Xlsx => shared::first_shared_string(path).filter(|s| !s.is_empty()),
            _ => None,
        };
        Ok(Book {
            sheets,
            is_1904,
            format,
            path: path.to_path_buf(),
            shared0,
        })
    }

    /// Shared string 0 of an xlsx: a data cell with this text may really hold an
    /// index calamine could not read ([`shared::unreadable_indexes`] tells).
    pub fn first_shared_string(&self) -> Option<&str> {
        self.shared0.as_deref()
    }

    /// Cells (row, column, raw `<v>`) whose shared-string index is unreadable.
    pub fn unreadable_indexes(&self) -> Vec<(u32, u32, String)> {
        shared::unreadable_indexes(&self.path)
    }

    /// The format the file's bytes are in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Sheet names in workbook order (worksheets only, charts left out).
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets
            .sheets_metadata()
            .iter()
            .filter(|s| {
                matches!(
                    s.typ,
                    calamine::SheetType::WorkSheet | calamine::SheetType::MacroSheet
                )
            })
            .map(|s| s.name.clone())
            .collect()
    }

    /// Whether the workbook uses the 1904 date system.
    pub fn is_1904(&self) -> bool {
        self.is_1904
    }

    /// Calls `f` with each non-empty row of a sheet, in order: the zero-based row
    /// number and its non-empty cells as (column, value). Stops early when `f`
    /// breaks. xlsx is streamed; other formats come from calamine's range.
    pub fn for_each_row<F>(&mut self, sheet: &str, mut f: F) -> Result<(), ReadError>
    where
        F: FnMut(u32, &[(u32, Cell<'_>)]) -> ControlFlow<()>,
    {
        let is_1904 = self.is_1904;
        let sheets = &mut self.sheets;
        guard(move || -> Result<(), ReadError> {
            match sheets {
                Sheets::Xlsx(x) => {
                    let mut reader = x.worksheet_cells_reader(sheet).map_err(xlsx_err)?;
                    let mut rows = RowGrouper::default();
                    while let Some(c) = reader.next_cell().map_err(xlsx_err)? {
                        let (r, col) = c.get_position();
                        let cell = from_data_ref(c.get_value(), is_1904);
                        if rows.push(r, col, cell, &mut f).is_break() {
                            return Ok(());
                        }
                    }
                    rows.finish(&mut f);
                    Ok(())
                }
                other => {
                    let range = other.worksheet_range(sheet).map_err(map_calamine_error)?;
                    let (r0, c0) = range.start().unwrap_or((0, 0));
                    let mut row: Vec<(u32, Cell<'_>)> = Vec::with_capacity(32);
                    for (i, cells) in range.rows().enumerate() {
                        row.clear();
                        for (j, d) in cells.iter().enumerate() {
                            let cell = from_data(d, is_1904);
                            if cell != Cell::Empty {
                                row.push((c0 + j as u32, cell));
                            }
                        }
                        if !row.is_empty() && f(r0 + i as u32, &row).is_break() {
                            break;
                        }
                    }
                    Ok(())
                }
            }
        })?
    }

    /// Like [`Book::for_each_row`], but for xlsx the cells are read on a second
    /// thread and handed over in batches through a bounded channel, so parsing the
    /// XML and checking the rows overlap. Memory stays bounded by the channel.
    pub fn stream_rows<F>(&mut self, sheet: &str, mut f: F) -> Result<(), ReadError>
    where
        F: FnMut(u32, &[(u32, Cell<'_>)]) -> ControlFlow<()>,
    {
        let is_1904 = self.is_1904;
        let Sheets::Xlsx(x) = &mut self.sheets else {
            return self.for_each_row(sheet, f);
        };
        const BATCH: usize = 8192;
        // Batches the reader may run ahead of the checks: enough to go on reading
        // while the checks wait for a referenced ledger to load (a previous
        // 200,000-person register: about half a second), bounded in memory
        // (a batch is 8,192 cells of a few words each).
        const READ_AHEAD: usize = 64;
        type Batch<'c> = Vec<(u32, u32, Cell<'c>)>;
        std::thread::scope(|s| {
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<Result<Batch<'_>, ReadError>>(READ_AHEAD);
            let (back_tx, back_rx) = std::sync::mpsc::channel::<Batch<'_>>();
            s.spawn(move || {
                let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                    let x = x; // moved, so the reader may borrow for the whole scope
                    x.worksheet_cells_reader(sheet)
                }));
                let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                    || -> Result<(), ReadError> {
                        let mut reader = match opened {
                            Ok(r) => r.map_err(xlsx_err)?,
                            Err(_) => return Err(ReadError::Panic("opening the sheet".into())),
                        };
                        let mut batch: Batch<'_> = Vec::with_capacity(BATCH);
                        while let Some(c) = reader.next_cell().map_err(xlsx_err)? {
                            let (r, col) = c.get_position();
                            let cell = from_data_ref(c.get_value(), is_1904);
                            if cell != Cell::Empty {
                                batch.push((r, col, cell));
                            }
                            if batch.len() >= BATCH {
                                let next = back_rx
                                    .try_recv()
                                    .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                                if tx.send(Ok(std::mem::replace(&mut batch, next))).is_err() {
                                    return Ok(()); // the consumer stopped early
                                }
                            }
                        }
                        let _ = tx.send(Ok(batch));
                        Ok(())
                    },
                ));
                let err = match res {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(p) => Some(ReadError::Panic(
                        p.downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "panic".into()),
                    )),
                };
                if let Some(e) = err {
                    let _ = tx.send(Err(e));
                }
            });
            let mut rows = RowGrouper::default();
            for msg in rx.iter() {
                let mut batch = msg?;
                for (r, c, v) in batch.drain(..) {
                    if rows.push(r, c, v, &mut f).is_break() {
                        return Ok(());
                    }
                }
                let _ = back_tx.send(batch);
            }
            rows.finish(&mut f);
            Ok(())
        })
    }

    /// Reads a whole sheet into memory with its merged ranges.
    pub fn read_sheet(&mut self, sheet: &str) -> Result<SheetData, ReadError> {
        let mut data = SheetData {
            name: sheet.to_string(),
            ..SheetData::default()
        };
        self.for_each_row(sheet, |r, cells| {
            for (c, v) in cells {
                data.cells.push((r, *c, v.clone().into_owned()));
            }
            ControlFlow::Continue(())
        })?;
        let sheets = &mut self.sheets;
        let merges = guard(move || -> Vec<calamine::Dimensions> {
            match sheets {
                Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(sheet).unwrap_or_default(),
                Sheets::Xls(x) => x.merge_cells_by_sheet_name(sheet).unwrap_or_default(),
                // calamine does not expose ODS merges; the copy keeps values only.
                Sheets::Ods(_) | Sheets::Xlsb(_) => Vec::new(),
            }
        })
        .unwrap_or_default();
        data.merges = merges
            .into_iter()
            .map(|d| (d.start.0, d.start.1, d.end.0, d.end.1))
            .collect();
        Ok(data)
    }
}

/// Groups cells arriving in sheet order into rows and hands each non-empty row to
/// a callback.
struct RowGrouper<'c> {
    row: Vec<(u32, Cell<'c>)>,
    current: Option<u32>,
}

impl Default for RowGrouper<'_> {
    fn default() -> Self {
        RowGrouper {
            row: Vec::with_capacity(32),
            current: None,
        }
    }
}

impl<'c> RowGrouper<'c> {
    fn push<F>(&mut self, r: u32, col: u32, cell: Cell<'c>, f: &mut F) -> ControlFlow<()>
    where
        F: FnMut(u32, &[(u32, Cell<'_>)]) -> ControlFlow<()>,
    {
        if self.current != Some(r) {
            if let Some(prev) = self.current {
                if !self.row.is_empty() && f(prev, &self.row).is_break() {
                    return ControlFlow::Break(());
                }
            }
            self.row.clear();
            self.current = Some(r);
        }
        if cell != Cell::Empty {
            self.row.push((col, cell));
        }
        ControlFlow::Continue(())
    }

    fn finish<F>(&mut self, f: &mut F)
    where
        F: FnMut(u32, &[(u32, Cell<'_>)]) -> ControlFlow<()>,
    {
        if let Some(prev) = self.current {
            if !self.row.is_empty() {
                let _ = f(prev, &self.row);
            }
        }
    }
}

/// Runs parser code so that a panic in a dependency becomes an error, not a crash.
pub fn guard<T>(f: impl FnOnce() -> T) -> Result<T, ReadError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        tracing::error!(panic = %msg, "parser panicked; file set aside");
        ReadError::Panic(msg)
    })
}

fn xlsx_err(e: calamine::XlsxError) -> ReadError {
    map_calamine_error(calamine::Error::Xlsx(e))
}

fn map_calamine_error(e: calamine::Error) -> ReadError {
    use calamine::Error as E;
    let text = e.to_string();
    let password = match &e {
        E::Xlsx(calamine::XlsxError::Password) => true,
        E::Xls(calamine::XlsError::Password) => true,
        E::Ods(calamine::OdsError::Password) => true,
        _ => text.to_lowercase().contains("password"),
    };
    if password {
        return ReadError::Encrypted;
    }
    if let E::Io(io) = &e {
        return ReadError::Io(io.to_string());
    }
    if text.contains("Cannot detect file format") || text.contains("Unrecognized") {
        return ReadError::NotSpreadsheet;
    }
    ReadError::Corrupt(text)
}

fn excel_serial(dt: &calamine::ExcelDateTime, is_1904: bool) -> f64 {
    let v = dt.as_f64();
    if is_1904 {
        v + 1462.0
    } else {
        v
    }
}

fn from_data_ref<'a>(d: &DataRef<'a>, is_1904: bool) -> Cell<'a> {
    match d {
        DataRef::Empty => Cell::Empty,
        DataRef::SharedString(s) => Cell::Text(std::borrow::Cow::Borrowed(s)),
        DataRef::String(s) => Cell::Text(std::borrow::Cow::Owned(s.clone())),
        DataRef::Int(i) => Cell::Int(*i),
        DataRef::Float(f) => Cell::Float(*f),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(dt) => Cell::Date(excel_serial(dt, is_1904)),
        DataRef::DateTimeIso(s) => Cell::Iso(s.clone()),
        DataRef::DurationIso(s) => Cell::Text(std::borrow::Cow::Owned(s.clone())),
        DataRef::Error(e) => Cell::Error(e.to_string()),
    }
}

fn from_data(d: &Data, is_1904: bool) -> Cell<'_> {
    match d {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(std::borrow::Cow::Borrowed(s)),
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) => Cell::Date(excel_serial(dt, is_1904)),
        Data::DateTimeIso(s) => Cell::Iso(s.clone()),
        Data::DurationIso(s) => Cell::Text(std::borrow::Cow::Borrowed(s)),
        Data::Error(e) => Cell::Error(e.to_string()),
    }
}
