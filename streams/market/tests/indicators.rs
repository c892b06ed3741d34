//! Indicator values against TA-Lib, `ta` and pandas on 400 real S&P 500 daily bars.
//! The fixture and how it was made: `scripts/fixtures/indicators.py`.

use finpulse_market::indicators::{Bar, IndicatorSet, Snapshot};

const FIXTURE: &str = include_str!("fixtures/sp500_indicators.csv");
const TOLERANCE: f64 = 1e-6;

fn column<'a>(header: &[&str], row: &[&'a str], name: &str) -> &'a str {
    let index = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("fixture has no column {name}"));
    row[index]
}

fn number(header: &[&str], row: &[&str], name: &str) -> Option<f64> {
    let cell = column(header, row, name);
    (!cell.is_empty()).then(|| cell.parse().expect("fixture numbers parse"))
}

fn check(line: usize, name: &str, expected: Option<f64>, got: Option<f64>) {
    match (expected, got) {
        (None, None) => {}
        (Some(e), Some(g)) => assert!(
            (e - g).abs() <= TOLERANCE * e.abs().max(1.0),
            "row {line} {name}: reference {e}, finpulse {g}"
        ),
        (e, g) => panic!("row {line} {name}: warm-up differs, reference {e:?}, finpulse {g:?}"),
    }
}

#[test]
fn indicators_match_independent_references() {
    let mut lines = FIXTURE.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let mut set = IndicatorSet::default();
    let mut compared = 0;
    for (line, text) in lines.enumerate() {
        let row: Vec<&str> = text.split(',').collect();
        let value = |name| number(&header, &row, name).expect("ohlcv present");
        let bar = Bar {
            open: value("open"),
            high: value("high"),
            low: value("low"),
            close: value("close"),
            volume: value("volume"),
        };
        let got: Snapshot = set.update(&bar);
        let expected = |name| number(&header, &row, name);
        check(line, "sma20", expected("sma20"), got.sma20);
        check(line, "sma50", expected("sma50"), got.sma50);
        check(line, "ema20", expected("ema20"), got.ema20);
        check(line, "rsi14", expected("rsi14"), got.rsi14);
        check(line, "macd", expected("macd"), got.macd.map(|m| m.macd));
        check(
            line,
            "macd_signal",
            expected("macd_signal"),
            got.macd.map(|m| m.signal),
        );
        check(
            line,
            "macd_hist",
            expected("macd_hist"),
            got.macd.map(|m| m.histogram),
        );
        check(
            line,
            "bb_upper",
            expected("bb_upper"),
            got.bollinger.map(|b| b.upper),
        );
        check(
            line,
            "bb_middle",
            expected("bb_middle"),
            got.bollinger.map(|b| b.middle),
        );
        check(
            line,
            "bb_lower",
            expected("bb_lower"),
            got.bollinger.map(|b| b.lower),
        );
        check(line, "atr14", expected("atr14"), got.atr14);
        check(line, "vwap14", expected("vwap14"), got.vwap14);
        check(
            line,
            "volatility20",
            expected("volatility20"),
            got.volatility20,
        );
        check(
            line,
            "return_zscore20",
            expected("return_zscore20"),
            got.return_zscore20,
        );
        compared += 1;
    }
    assert_eq!(compared, 400);
}
