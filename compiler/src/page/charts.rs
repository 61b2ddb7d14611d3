//! The report's charts as SVG, drawn with plotters: training curves, a confusion matrix, a
//! series with its predictions.

use plotters::coord::Shift;
use plotters::prelude::*;

/// A drawing that failed; plotters' SVG backend only fails on a broken drawing, not on data.
pub type Drawn = Result<String, String>;

pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const ORANGE: RGBColor = RGBColor(230, 110, 0);
pub const RED: RGBColor = RGBColor(200, 40, 40);
pub const GREY: RGBColor = RGBColor(120, 120, 120);
pub const FONT: &str = "sans-serif";

/// Draws into an SVG of `size` pixels and returns its text, trimmed of the attributes SVG
/// defaults to anyway (a heatmap holds thousands of rectangles).
pub fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Drawn {
    let mut text = String::new();
    {
        let area = SVGBackend::with_string(&mut text, size).into_drawing_area();
        area.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&area)?;
        area.present().map_err(|e| e.to_string())?;
    }
    Ok(text
        .replace(" opacity=\"1\"", "")
        .replace(" stroke=\"none\"", ""))
}

// Legend samples are drawn three pixels wide, data lines two: tests tell them apart so.

/// One line of a curve chart: its name, colour and a value per epoch.
pub struct Curve<'a> {
    pub name: &'a str,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// Whether values span enough orders of magnitude that a log scale reads better.
pub fn wants_log(curves: &[Curve]) -> bool {
    let values = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
    let (lo, hi) = values.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    lo > 0.0 && hi / lo > 30.0
}

/// Epochs up to which each is marked with a dot as well as joined by the line.
const MARKED_EPOCHS: usize = 20;

/// Curves over the epochs, a point an epoch; the best epoch marked when there is one. A log
/// scale plots log10 of the values and labels the axis with the values themselves. The
/// legend sits where the curves are not: top right over falling curves (a loss), bottom
/// right over rising ones (an accuracy).
pub fn curves(
    title: &str,
    y_name: &str,
    curves: &[Curve],
    best: Option<usize>,
    legend: SeriesLabelPosition,
) -> Drawn {
    let log = wants_log(curves);
    let shown = |v: f64| if log { v.log10() } else { v };
    let values = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| shown(p.1)));
    let (lo, hi) = span(values);
    let last = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let x_range = 1.0..last.max(2.0);
    let epochs = last as usize;
    let y_name = if log {
        format!("{y_name} (log scale)")
    } else {
        y_name.to_string()
    };
    svg((560, 320), |area| {
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 17))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(62)
            .build_cartesian_2d(x_range, lo..hi)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_name)
            .x_labels(epochs.clamp(2, 8))
            .y_labels(6)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| axis_figure(if log { 10f64.powf(*y) } else { *y }))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        if let Some(best) = best {
            let x = best as f64;
            let marker = LineSeries::new([(x, lo), (x, hi)], GREY.stroke_width(1));
            chart
                .draw_series(marker)
                .map_err(|e| e.to_string())?
                .label(format!("best epoch ({best})"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], GREY));
        }
        for curve in curves {
            let points = curve.points.iter().map(|&(x, y)| (x, shown(y)));
            let color = curve.color;
            // A few epochs are marked one by one: one epoch makes no line.
            if curve.points.len() <= MARKED_EPOCHS {
                let marks = points.clone().map(|p| Circle::new(p, 3, color.filled()));
                chart.draw_series(marks).map_err(|e| e.to_string())?;
            }
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(curve.name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(legend)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .label_font((FONT, 13))
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// The range of `values`, widened a little so that no line runs along the frame.
pub fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6 * hi.abs().max(1.0));
    (lo - pad, hi + pad)
}

/// An axis label: few digits, whatever the magnitude.
pub fn axis_figure(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 || (0.01..10_000.0).contains(&magnitude) {
        let text = format!("{value:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return text.to_string();
    }
    format!("{value:.1e}")
}

/// Counts of (actual, predicted) classes, drawn with the actual class down the side and the
/// predicted one along the bottom; cells that never happened stay white.
pub fn confusion(counts: &[Vec<usize>], names: &[String]) -> Drawn {
    let classes = counts.len();
    let most = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    let cell = (420 / classes).clamp(4, 40) as u32;
    let side = cell * classes as u32;
    let every = classes.div_ceil(26).max(1);
    let label = |i: &usize| match i % every {
        0 => names.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    svg((side + 110, side + 90), |area| {
        let mut chart = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            // A segmented range holds its end too: `0..classes - 1` is `classes` segments.
            .build_cartesian_2d(
                (0..classes.saturating_sub(1)).into_segmented(),
                (0..classes.saturating_sub(1)).into_segmented(),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("actual")
            .x_labels(classes)
            .y_labels(classes)
            .x_label_formatter(&|v| segment_label(v, &label))
            .y_label_formatter(&|v| segment_label(v, &label))
            .draw()
            .map_err(|e| e.to_string())?;
        let cells = counts.iter().enumerate().flat_map(|(actual, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, &n)| n > 0)
                .map(move |(predicted, &n)| {
                    let shade = 0.35 + 0.65 * n as f64 / most as f64;
                    let color = if actual == predicted { BLUE } else { RED };
                    Rectangle::new(
                        [
                            (SegmentValue::Exact(predicted), SegmentValue::Exact(actual)),
                            (
                                SegmentValue::Exact(predicted + 1),
                                SegmentValue::Exact(actual + 1),
                            ),
                        ],
                        color.mix(shade).filled(),
                    )
                })
        });
        chart
            .draw_series(cells)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// The label of a segment's centre; none at its edges.
pub fn segment_label(value: &SegmentValue<usize>, label: &dyn Fn(&usize) -> String) -> String {
    match value {
        SegmentValue::CenterOf(i) => label(i),
        _ => String::new(),
    }
}

/// One part of a series: its name, colour, `(row, actual, predicted)` values in the order
/// of their rows, and whether they follow each other (drawn as a line, else as points).
pub struct SeriesPart {
    pub name: &'static str,
    pub color: RGBColor,
    pub points: Vec<(f64, f64, f64)>,
    pub joined: bool,
}

/// The series as it was, grey, with each part's predictions over it in its own colour.
pub fn series(title: &str, parts: &[SeriesPart]) -> Drawn {
    let all = || parts.iter().flat_map(|p| p.points.iter());
    let (lo, hi) = span(all().flat_map(|&(_, a, p)| [a, p]));
    let first = all().map(|p| p.0).fold(f64::INFINITY, f64::min).min(0.0);
    let last = all().map(|p| p.0).fold(1.0, f64::max);
    let mut actual: Vec<(f64, f64)> = all().map(|&(x, a, _)| (x, a)).collect();
    actual.sort_by(|a, b| a.0.total_cmp(&b.0));
    svg((760, 340), |area| {
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 17))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(62)
            .build_cartesian_2d(first..last, lo..hi)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("row of the series")
            .y_desc("value")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| axis_figure(*y))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        // One line a run of consecutive rows: the rows between parts (a window's) have no
        // target, and a line across them would look like data.
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        for point in actual {
            match runs.last_mut() {
                Some(run) if point.0 - run[run.len() - 1].0 <= 1.0 => run.push(point),
                _ => runs.push(vec![point]),
            }
        }
        let last_run = runs.pop().unwrap_or_default();
        for run in runs {
            chart
                .draw_series(LineSeries::new(run, GREY.stroke_width(2)))
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(LineSeries::new(last_run, GREY.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label("actual")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], GREY.stroke_width(3)));
        for part in parts {
            let color = part.color;
            let predicted = part.points.iter().map(|&(x, _, p)| (x, p));
            let drawn = match part.joined {
                true => chart.draw_series(LineSeries::new(predicted, color.stroke_width(2))),
                false => chart.draw_series(predicted.map(|p| Circle::new(p, 2, color.filled()))),
            };
            drawn
                .map_err(|e| e.to_string())?
                .label(format!("predicted ({})", part.name))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .label_font((FONT, 13))
            .draw()
            .map_err(|e| e.to_string())
    })
}
