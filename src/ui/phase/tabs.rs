//! What each tab of a phase page reads and shows below its header: a page
//! of data rows (or of the rows holding a keyword), a page of errors each
//! with the data row it names, a page of the log rows the filters keep.

use futures::future::try_join_all;

use super::{Cell, ErrorItem, Opened, Place, Table};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::{DataQuery, LogQuery, QueryValues};

/// What a tab shows below the header.
#[derive(Default)]
pub(super) struct Body {
    pub(super) table: Option<Table>,
    pub(super) errors: Vec<ErrorItem>,
    pub(super) keyword: String,
    pub(super) levels: Vec<String>,
    pub(super) target_row: Option<u64>,
}

/// The Data tab: a page of rows, the page holding `row`, or a page of the
/// rows holding `keyword` (marked).
pub(super) async fn data_body(
    state: &AppState,
    opened: &Opened,
    raw: &str,
    place: &mut Place,
) -> Result<Body, ApiError> {
    let DataQuery { keyword } = QueryValues::from_form(raw, &[]).validate()?;
    let keyword = keyword.filter(|k| !k.is_empty());
    let p = &mut place.page;
    // A row asked for by number opens the page holding it.
    if let (Some(row), None) = (place.row, &keyword) {
        p.page = row / u64::from(p.limit.max(1));
    }
    // Hits are numbered by their data row, each a link to its place in
    // the whole data.
    let (page, places) = match &keyword {
        Some(k) => {
            let _slot = state.search_slot(&opened.company)?;
            let (page, places) = state
                .timed(opened.reader.search_data_placed(k, p.page, p.limit))
                .await?;
            (page, Some(places))
        }
        None => {
            let page = state
                .timed(opened.reader.data_page(p.page, p.limit))
                .await?;
            (page, None)
        }
    };
    let mut table = Table::of_off_workers(page, keyword.clone()).await?;
    if let Some(places) = places {
        table.number_by(&places, &opened.head.base, opened.head.attempt);
    }
    Ok(Body {
        table: Some(table),
        keyword: keyword.unwrap_or_default(),
        target_row: place.row,
        ..Body::default()
    })
}

/// The Errors tab: a page of errors, each with the data row it names.
pub(super) async fn errors_body(
    state: &AppState,
    opened: &Opened,
    place: &Place,
) -> Result<Body, ApiError> {
    let p = &place.page;
    let page = state
        .timed(opened.reader.errors_page(p.page, p.limit))
        .await?;
    let errors = try_join_all(
        page.rows
            .to_json()
            .iter()
            .map(|row| error_item(state, opened, row)),
    )
    .await?;
    Ok(Body {
        // The errors show as blocks; the table gives only the paging.
        table: Some(Table::paging_of(&page)),
        errors,
        ..Body::default()
    })
}

/// The Logs tab: a page of the rows the level and keyword filters keep.
pub(super) async fn logs_body(
    state: &AppState,
    opened: &Opened,
    raw: &str,
    place: &Place,
) -> Result<Body, ApiError> {
    let p = &place.page;
    let query: LogQuery = QueryValues::from_form(raw, &[]).validate()?;
    let mut levels: Vec<String> = query.level.iter().flatten().cloned().collect();
    levels.sort();
    let keyword = query.keyword.clone().unwrap_or_default();
    let filter = query.filter();
    let _slot = match filter.is_empty() {
        true => None,
        false => Some(state.search_slot(&opened.company)?),
    };
    let page = state
        .timed(opened.reader.logs_page(&filter, p.page, p.limit))
        .await?;
    let marked = (!keyword.is_empty()).then(|| keyword.clone());
    Ok(Body {
        table: Some(Table::of_off_workers(page, marked).await?),
        keyword,
        levels,
        ..Body::default()
    })
}

/// An error's fields, its traceback apart, and the data row its `_file`
/// and `_row` name, read as one row of the Data tab.
async fn error_item(
    state: &AppState,
    opened: &Opened,
    row: &serde_json::Map<String, serde_json::Value>,
) -> Result<ErrorItem, ApiError> {
    let traceback = row
        .get("traceback")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    let fields = row
        .iter()
        .filter(|(name, _)| name.as_str() != "traceback")
        .map(|(name, value)| (name.clone(), Cell::of(value, None)))
        .collect();
    let file = row.get("_file").and_then(serde_json::Value::as_i64);
    let at = row.get("_row").and_then(serde_json::Value::as_i64);
    let place = match (file, at) {
        (Some(file), Some(row)) => opened.reader.data_row_of(file, row),
        _ => None,
    };
    let row = match place {
        Some(global) => {
            let page = state.timed(opened.reader.data_page(global, 1)).await?;
            page.rows.to_json().first().map(|data| {
                let link = format!(
                    "{}?attempt={}&row={global}#row-{global}",
                    opened.head.base, opened.head.attempt
                );
                let cells = data
                    .iter()
                    .map(|(name, value)| (name.clone(), Cell::of(value, None)))
                    .collect();
                (link, cells)
            })
        }
        None => None,
    };
    Ok(ErrorItem {
        fields,
        traceback,
        row,
    })
}
