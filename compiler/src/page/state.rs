//! The recurrent layers' recorded state as heatmaps: one figure a layer and batch row, a
//! panel for each of its signals (h, c and the gates), the steps along the bottom labelled
//! with what the layer read, the units down the side sorted by the step at which h peaks.

use plotters::prelude::*;
use runtime::trace::{Segment, Strip};

use super::charts::{segment_label, svg, Drawn, FONT};

/// Heatmap cells a report draws at most (but for a first strip of which one step holds
/// more): each is an SVG rectangle, and the report of the encoder-decoder stays under 2 MB.
pub const MAX_CELLS: usize = 24_000;

/// One signal of one layer along a whole strip.
pub struct Panel {
    /// `h`, `c`, a gate's letter, or one of these after `forward `/`backward `.
    pub name: String,
    pub steps: usize,
    pub units: usize,
    /// `[steps, units]`.
    pub values: Vec<f32>,
}

/// How much of a strip a page draws: its first `segments`, each layer cut to its first
/// `steps` (`usize::MAX`: all of them).
#[derive(Clone, Copy, Debug)]
pub struct Cut {
    pub segments: usize,
    pub steps: usize,
}

impl Cut {
    pub fn whole(strip: &Strip) -> Cut {
        Cut {
            segments: strip.segments.len(),
            steps: usize::MAX,
        }
    }
}

/// Cells a segment's heatmaps hold.
fn segment_cells(segment: &Segment) -> usize {
    let signals = segment.layers.iter().flat_map(|state| &state.signals);
    signals.map(|signal| signal.values.len()).sum()
}

/// The part of `strip` that fits in `room` cells: its first whole segments; none when not
/// even one fits, except on a page's `first` strip, whose first segment is cut to the steps
/// that fit (one at least), so that a page shows something of a wide model.
pub fn fit(strip: &Strip, room: usize, first: bool) -> Option<Cut> {
    let mut used = 0;
    for (index, segment) in strip.segments.iter().enumerate() {
        let size = segment_cells(segment);
        if used + size <= room {
            used += size;
            continue;
        }
        return match (index, first) {
            (0, false) => None,
            (0, true) => {
                let steps = segment.layers.iter().map(|s| s.steps()).max().unwrap_or(1);
                let per_step = size.div_ceil(steps.max(1)).max(1);
                Some(Cut {
                    segments: 1,
                    steps: (room / per_step).max(1),
                })
            }
            (segments, _) => Some(Cut {
                segments,
                steps: usize::MAX,
            }),
        };
    }
    Some(Cut::whole(strip))
}

/// A layer's panels along the part `cut` keeps of a strip, and the label of each step;
/// none when the layer did not run in it.
pub fn layer_panels(
    strip: &Strip,
    layer: usize,
    cut: Cut,
    name: &dyn Fn(u32) -> String,
) -> Option<(Vec<Panel>, Vec<String>)> {
    let mut panels: Vec<Panel> = Vec::new();
    let mut labels = Vec::new();
    for segment in &strip.segments[..cut.segments] {
        let state = segment.layers.iter().find(|state| state.layer == layer)?;
        labels.extend(step_labels(segment, state.steps(), name));
        for (index, signal) in state.signals.iter().enumerate() {
            if panels.len() == index {
                panels.push(Panel {
                    name: signal.name.clone(),
                    steps: 0,
                    units: signal.units,
                    values: Vec::new(),
                });
            }
            panels[index].steps += signal.steps;
            panels[index].values.extend_from_slice(&signal.values);
        }
    }
    for panel in &mut panels {
        panel.steps = panel.steps.min(cut.steps);
        panel.values.truncate(panel.steps * panel.units);
    }
    labels.truncate(cut.steps);
    (!panels.is_empty()).then_some((panels, labels))
}

/// What each of a layer's steps read: the sample's input symbols when the layer has its
/// steps, its targets (`→ 7`) when it has theirs (a decoder after `repeat`), else the step's
/// number.
fn step_labels(segment: &Segment, steps: usize, name: &dyn Fn(u32) -> String) -> Vec<String> {
    if steps == segment.inputs.len() {
        return segment.inputs.iter().map(|&s| name(s)).collect();
    }
    if steps == segment.targets.len() {
        return segment
            .targets
            .iter()
            .map(|&s| format!("→{}", name(s)))
            .collect();
    }
    (1..=steps).map(|step| step.to_string()).collect()
}

/// Units in the order of the step at which the first panel (h) peaks, then of the peak.
pub fn unit_order(first: &Panel) -> Vec<usize> {
    let peak = |unit: usize| {
        (0..first.steps)
            .map(|step| (step, first.values[step * first.units + unit]))
            .fold((0, f32::NEG_INFINITY), |best, (step, v)| {
                if v > best.1 {
                    (step, v)
                } else {
                    best
                }
            })
    };
    let mut order: Vec<usize> = (0..first.units).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (peak(a), peak(b));
        pa.0.cmp(&pb.0).then(pb.1.total_cmp(&pa.1))
    });
    order
}

/// What a signal is and how its values map to colours: `(words, low, high)`, with the
/// range of a gate `[0, 1]`, of `h` and the candidates `[-1, 1]` (tanh), of `c` its largest
/// magnitude.
fn meaning(panel: &Panel) -> (&'static str, f32, f32) {
    let letter = panel.name.rsplit(' ').next().unwrap_or("");
    let largest = panel
        .values
        .iter()
        .fold(0.0_f32, |m, v| m.max(v.abs()))
        .max(1e-6);
    match letter {
        "h" => ("hidden state", -1.0, 1.0),
        "c" => ("cell state", -largest, largest),
        "i" => ("input gate", 0.0, 1.0),
        "f" => ("forget gate", 0.0, 1.0),
        "g" => ("candidate", -1.0, 1.0),
        "o" => ("output gate", 0.0, 1.0),
        "r" => ("reset gate", 0.0, 1.0),
        "z" => ("update gate", 0.0, 1.0),
        _ => ("candidate", -1.0, 1.0),
    }
}

/// White at 0 (or at `low` for a gate), to red for high and blue for low values.
fn colour(value: f32, low: f32, high: f32) -> RGBColor {
    let mix = |to: (f32, f32, f32), t: f32| {
        let t = t.clamp(0.0, 1.0);
        let channel = |c: f32| (255.0 + (c - 255.0) * t).round() as u8;
        RGBColor(channel(to.0), channel(to.1), channel(to.2))
    };
    if low >= 0.0 {
        return mix((0.0, 104.0, 55.0), (value - low) / (high - low));
    }
    match value >= 0.0 {
        true => mix((178.0, 24.0, 43.0), value / high),
        false => mix((33.0, 102.0, 172.0), value / low),
    }
}

/// The range a panel's caption names.
fn range_words(low: f32, high: f32) -> String {
    match low >= 0.0 {
        true => "0 white, 1 green".to_string(),
        false => format!("{} blue, +{} red", figure(low), figure(high)),
    }
}

fn figure(value: f32) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A layer's panels on one strip, two a row.
pub fn heatmaps(panels: &[Panel], labels: &[String]) -> Drawn {
    let (steps, units) = (panels[0].steps, panels[0].units);
    let order = unit_order(&panels[0]);
    // At least 180 pixels a panel, so that its caption fits over it.
    let cell_w = (360 / steps).clamp(6, 28).max(180usize.div_ceil(steps)) as u32;
    let cell_h = (300 / units).clamp(1, 10) as u32;
    let columns = panels.len().min(2);
    let rows = panels.len().div_ceil(columns);
    let panel_w = 70 + cell_w * steps as u32 + 16;
    let panel_h = 34 + cell_h * units as u32 + 34;
    let every = steps.div_ceil(40);
    let label = |step: &usize| match step % every {
        0 => labels.get(*step).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    svg((panel_w * columns as u32, panel_h * rows as u32), |area| {
        let cells = area.split_evenly((rows, columns));
        for (panel, cell) in panels.iter().zip(&cells) {
            draw_panel(cell, panel, &order, &label)?;
        }
        Ok(())
    })
}

fn draw_panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    panel: &Panel,
    order: &[usize],
    label: &dyn Fn(&usize) -> String,
) -> Result<(), String> {
    let (steps, units) = (panel.steps, panel.units);
    let (words, low, high) = meaning(panel);
    let caption = format!("{} {words} ({})", panel.name, range_words(low, high));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 13))
        .margin_right(12)
        .x_label_area_size(30)
        .y_label_area_size(58)
        // A segmented range holds its end too: `0..steps - 1` is `steps` segments.
        .build_cartesian_2d((0..steps - 1).into_segmented(), 0..units)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(steps)
        // Unit numbers would mislead once sorted; plotters loops forever on zero labels.
        .y_labels(2)
        .y_label_formatter(&|_| String::new())
        .y_desc(format!("{units} units, by peak"))
        .x_label_formatter(&|v| segment_label(v, label))
        .label_style((FONT, 11))
        .axis_desc_style((FONT, 11))
        .draw()
        .map_err(|e| e.to_string())?;
    let cells = (0..steps).flat_map(|step| {
        order.iter().enumerate().map(move |(row, &unit)| {
            let value = panel.values[step * units + unit];
            // The unit that peaks first at the top.
            let y = units - 1 - row;
            Rectangle::new(
                [
                    (SegmentValue::Exact(step), y),
                    (SegmentValue::Exact(step + 1), y + 1),
                ],
                colour(value, low, high).filled(),
            )
        })
    });
    chart
        .draw_series(cells)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
