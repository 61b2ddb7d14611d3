//! CSV tables (`compiler::table`): the bad files of `compiler/test_data/csv` (listed with
//! their expected messages in `cases.txt`, rendered errors kept as insta snapshots), files
//! that must read (byte-order mark, CRLF, blank lines, quoted names), the four ways to handle
//! missing cells, the real series in `data/`, and arbitrary bytes, which must never panic.

use compiler::table::{fill_missing, read_csv, Missing, Table, TableError};
use proptest::prelude::*;

use crate::repo_root;

#[test]
fn bad_files() {
    let dir = repo_root().join("compiler/test_data/csv");
    let cases = std::fs::read_to_string(dir.join("cases.txt")).unwrap();
    let cases: Vec<&str> = cases
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .collect();
    assert_eq!(
        cases.len(),
        csv_files(&dir),
        "every file in cases.txt, once"
    );
    for case in cases {
        let [file, columns, missing, expected] = case.split(" | ").collect::<Vec<_>>()[..] else {
            panic!("cases.txt: expected `FILE | COLUMNS | MISSING | MESSAGE`, found {case:?}")
        };
        let error = first_error(
            &std::fs::read(dir.join(file)).unwrap(),
            columns,
            mode(missing),
        );
        assert!(
            error.message.contains(expected),
            "{file}: expected a message containing {expected:?}, found {error}"
        );
        insta::with_settings!({ snapshot_path => "../../test_data/csv/snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(file.trim_end_matches(".csv"), error.to_string());
        });
    }
}

fn csv_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|ext| ext == "csv")
        })
        .count()
}

/// The error of reading `bytes` and filling `columns` (names separated by spaces).
fn first_error(bytes: &[u8], columns: &str, missing: Missing) -> TableError {
    let table = match read_csv(bytes) {
        Ok(table) => table,
        Err(error) => return error,
    };
    let columns: Vec<usize> = columns
        .split(' ')
        .map(|name| {
            table
                .column_index(name)
                .unwrap_or_else(|| panic!("no column {name}"))
        })
        .collect();
    fill_missing(&table, &columns, missing).expect_err("a bad file must fail")
}

fn mode(name: &str) -> Missing {
    match name {
        "error" => Missing::Error,
        "drop" => Missing::Drop,
        "previous" => Missing::Previous,
        "interpolate" => Missing::Interpolate,
        _ => panic!("cases.txt: expected error, drop, previous or interpolate, found {name:?}"),
    }
}

fn table(bytes: &[u8]) -> Table {
    read_csv(bytes).unwrap_or_else(|error| panic!("{error}"))
}

fn lines(table: &Table) -> Vec<usize> {
    (0..table.rows()).map(|row| table.line(row)).collect()
}

#[test]
fn byte_order_mark_crlf_and_no_last_line_end_read() {
    let t = table(b"\xef\xbb\xbfmonth,passengers\r\n1949-01,112\r\n1949-02,118");
    assert_eq!(t.header(), ["month", "passengers"]);
    assert_eq!(t.numbers(1).unwrap(), [Some(112.0), Some(118.0)]);
    assert_eq!(lines(&t), [2, 3]);
}

#[test]
fn blank_lines_are_skipped_and_counted() {
    let unix = table(b"\n\na,b\n1,2\n\n\n3,4\n\n");
    assert_eq!(lines(&unix), [4, 7]);
    let windows = table(b"a,b\r\n\r\n1,2\r\n\r\n\r\n3,4\r\n");
    assert_eq!(lines(&windows), [3, 6]);
    let old_mac = table(b"a,b\r1,2\r\r3,4\r");
    assert_eq!(lines(&old_mac), [2, 4]);
}

#[test]
fn a_quoted_field_across_lines_counts_its_lines() {
    let t = table(b"note,v\n\"two\nlines\",1\nx,2\n");
    assert_eq!(lines(&t), [2, 4]);
    assert_eq!(t.numbers(1).unwrap(), [Some(1.0), Some(2.0)]);
}

#[test]
fn quoted_and_spaced_header_names_are_bare() {
    let t = table(b"\"YEAR\",\"SUNACTIVITY\", rate ,,\n1700,5,0,0,0\n");
    assert_eq!(t.header(), ["YEAR", "SUNACTIVITY", "rate", "", ""]);
    assert_eq!(t.column_index("SUNACTIVITY"), Some(1));
    assert_eq!(t.column_index("year"), None);
    assert_eq!(
        t.column_index(""),
        None,
        "empty names, as pandas' index column, are not names"
    );
}

#[test]
fn missing_markers_and_number_forms() {
    let t = table(b"v\n\"\"\nNA\n na \nNaN\n nan\n\n1\n-2.5\n+3e2\n.5\n");
    let numbers = t.numbers(0).unwrap();
    assert_eq!(
        t.rows(),
        9,
        "a blank line is skipped, even in a file of one column"
    );
    assert_eq!(numbers[..5], [None; 5]);
    assert_eq!(
        numbers[5..],
        [Some(1.0), Some(-2.5), Some(300.0), Some(0.5)]
    );
}

#[test]
fn columns_not_chosen_may_hold_anything() {
    let t = table(b"date,label,v\n1949-01,\xe2\x82\xac not a number,1\n");
    assert_eq!(
        fill_missing(&t, &[2], Missing::Error).unwrap(),
        (vec![vec![1.0]], vec![2])
    );
    assert!(t.numbers(1).is_err());
}

/// A table whose column `v`, the second, holds `cells`, one per line from line 2. (In a file
/// of one column, an empty cell would be a blank line, which is skipped.)
fn column(cells: &[&str]) -> Table {
    let rows: Vec<String> = cells.iter().map(|cell| format!("x,{cell}")).collect();
    table(format!("date,v\n{}\n", rows.join("\n")).as_bytes())
}

fn filled(cells: &[&str], missing: Missing) -> Result<Vec<f64>, TableError> {
    fill_missing(&column(cells), &[1], missing).map(|(mut columns, _)| columns.remove(0))
}

#[test]
fn error_mode_names_the_first_missing_cell() {
    assert_eq!(filled(&["1", "2"], Missing::Error).unwrap(), [1.0, 2.0]);
    let error = filled(&["1", "NA", ""], Missing::Error).unwrap_err();
    assert_eq!((error.line, error.column), (3, Some(2)));
}

#[test]
fn drop_mode_removes_the_row_from_every_column() {
    let t = table(b"a,b,c\n1,10,x\n2,,x\n,30,x\n4,40,\n");
    let (columns, lines) = fill_missing(&t, &[0, 1], Missing::Drop).unwrap();
    assert_eq!(columns, [vec![1.0, 4.0], vec![10.0, 40.0]]);
    assert_eq!(lines, [2, 5]);
}

#[test]
fn previous_mode_carries_values_forward() {
    let values = filled(&["1", "", "NA", "4", "", ""], Missing::Previous).unwrap();
    assert_eq!(values, [1.0, 1.0, 1.0, 4.0, 4.0, 4.0]);
    let error = filled(&["", "", "3"], Missing::Previous).unwrap_err();
    assert_eq!((error.line, error.column), (2, Some(2)));
    assert!(error.help.unwrap().contains("delete the rows above line 4"));
}

#[test]
fn interpolate_mode_fills_straight_lines_between_neighbours() {
    let values = filled(&["1", "", "", "4", "", "0", "7"], Missing::Interpolate).unwrap();
    assert_eq!(values, [1.0, 2.0, 3.0, 4.0, 2.0, 0.0, 7.0]);
    let extremes = filled(&["-1e308", "", "1e308"], Missing::Interpolate).unwrap();
    assert_eq!(
        extremes,
        [-1e308, 0.0, 1e308],
        "no overflow between extreme values"
    );
}

#[test]
fn interpolate_mode_refuses_edge_gaps() {
    let start = filled(&["", "2", "3"], Missing::Interpolate).unwrap_err();
    assert_eq!(start.line, 2);
    assert!(start.message.contains("gap at the start"));
    let end = filled(&["1", "2", "", "NA"], Missing::Interpolate).unwrap_err();
    assert_eq!(end.line, 4);
    assert!(end.help.unwrap().contains("delete the rows below line 3"));
}

#[test]
fn real_series_read() {
    let read = |name: &str| table(&std::fs::read(repo_root().join("data").join(name)).unwrap());
    let airline = read("airline_passengers.csv");
    assert_eq!(
        (airline.rows(), airline.header()),
        (144, &["month".to_string(), "passengers".to_string()][..])
    );
    let passengers = fill_missing(&airline, &[1], Missing::Error)
        .unwrap()
        .0
        .remove(0);
    assert_eq!((passengers[0], passengers[143]), (112.0, 432.0));

    let sunspots = read("sunspots.csv");
    assert_eq!(
        (sunspots.rows(), sunspots.column_index("SUNACTIVITY")),
        (309, Some(1))
    );

    let macrodata = read("macrodata.csv");
    assert_eq!((macrodata.rows(), macrodata.header().len()), (203, 14));
    let all: Vec<usize> = (0..14).collect();
    assert!(fill_missing(&macrodata, &all, Missing::Error).is_ok());

    let co2 = read("co2.csv");
    let gaps = co2
        .numbers(1)
        .unwrap()
        .iter()
        .filter(|v| v.is_none())
        .count();
    assert_eq!((co2.rows(), gaps), (2284, 59));
    assert_eq!(
        fill_missing(&co2, &[1], Missing::Drop).unwrap().1.len(),
        2284 - 59
    );
    let (filled, lines) = fill_missing(&co2, &[1], Missing::Interpolate).unwrap();
    assert_eq!((filled[0].len(), lines.len()), (2284, 2284));
    assert!(fill_missing(&co2, &[1], Missing::Error).is_err());
}

/// Reads, and fills every column in every mode: it may fail, never panic.
fn read_everything(bytes: &[u8]) {
    let Ok(table) = read_csv(bytes) else { return };
    let all: Vec<usize> = (0..table.header().len()).collect();
    for index in &all {
        let _ = table.numbers(*index);
    }
    for missing in [
        Missing::Error,
        Missing::Drop,
        Missing::Previous,
        Missing::Interpolate,
    ] {
        if let Ok((columns, lines)) = fill_missing(&table, &all, missing) {
            assert!(columns.iter().all(|column| column.len() == lines.len()));
            assert!(columns.iter().flatten().all(|value| value.is_finite()));
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        read_everything(&bytes);
    }

    #[test]
    fn csv_like_text_never_panics(text in "[a1.\\-e, \"\r\nNA\u{feff}\u{ff}]{0,80}") {
        read_everything(text.as_bytes());
    }
}
