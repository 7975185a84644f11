//! The simulator's chart: p99 time to connect and success per world and strategy, as
//! grouped bars in two panels, written as SVG (plotters, SVG backend only). The world
//! with names runs other strategies ([`sim::NAMES_KEYS`]) and is left out: its figures
//! are in the tables and the `sim_names_*` lines.

#![forbid(unsafe_code)]

use std::path::Path;

use plotters::prelude::*;

use crate::sim;

/// Where a full run writes the chart, relative to the repository root.
pub(crate) const DEFAULT_PATH: &str = "BENCHMARKS-sim.svg";

type Error = Box<dyn std::error::Error>;

/// Draws both panels into `path`.
pub(crate) fn write(path: &Path, report: &sim::Report) -> Result<(), Error> {
    let root = SVGBackend::new(path, (1400, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(450);
    let p99 = |s: &sim::Stats| s.p99_ms;
    let success = |s: &sim::Stats| s.success_pct;
    panel(
        &top,
        report,
        "p99 time to connect, ms (log scale; rounds 2..)",
        p99,
        true,
    )?;
    panel(
        &bottom,
        report,
        "success, % of requests to reachable peers (rounds 2..)",
        success,
        false,
    )?;
    root.present()?;
    Ok(())
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    report: &sim::Report,
    title: &str,
    value: fn(&sim::Stats) -> f64,
    log: bool,
) -> Result<(), Error> {
    let keys = sim::KEYS;
    let worlds: Vec<&sim::WorldReport> = report
        .worlds
        .iter()
        .filter(|w| sim::keys(&w.params.world) == keys.as_slice())
        .collect();
    let groups = worlds.len();
    // Each world is a group of bars, one per strategy, with a bar's width of space.
    let slot = keys.len() + 2;
    let width = (groups * slot) as f64;
    let values: Vec<f64> = worlds
        .iter()
        .flat_map(|w| w.figures.iter().map(|f| value(&f.later)))
        .filter(|v| v.is_finite())
        .collect();
    let max = values.iter().copied().fold(1.0f64, f64::max);
    let (area, legend) = area.split_horizontally(1180);
    let mut chart = ChartBuilder::on(&area);
    chart
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60);
    let bars = |w: usize, k: usize, v: f64, floor: f64| {
        let x0 = (w * slot + 1 + k) as f64;
        Rectangle::new(
            [(x0, floor), (x0 + 0.85, v.max(floor))],
            Palette99::pick(k).filled(),
        )
    };
    let world_names: Vec<&str> = worlds.iter().map(|w| w.params.world.name).collect();
    let label = move |x: &f64| {
        let g = (*x / slot as f64).floor() as usize;
        let centre = (g * slot) as f64 + slot as f64 / 2.0;
        if (x - centre).abs() < 0.5 {
            world_names
                .get(g)
                .map_or(String::new(), |n| (*n).to_owned())
        } else {
            String::new()
        }
    };
    if log {
        let floor = 10.0;
        let mut c = chart.build_cartesian_2d(0.0..width, (floor..max * 1.5).log_scale())?;
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(groups * slot * 2)
            .x_label_formatter(&label)
            .y_desc("ms")
            .draw()?;
        for (k, key) in keys.iter().enumerate() {
            let series = worlds.iter().enumerate().filter_map(|(w, wr)| {
                let f = wr.figures.iter().find(|f| f.key == *key)?;
                let v = value(&f.later);
                v.is_finite().then(|| bars(w, k, v, floor))
            });
            c.draw_series(series)?;
        }
    } else {
        let mut c = chart.build_cartesian_2d(0.0..width, 0.0..100.0)?;
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(groups * slot * 2)
            .x_label_formatter(&label)
            .y_desc("%")
            .draw()?;
        for (k, key) in keys.iter().enumerate() {
            let series = worlds.iter().enumerate().filter_map(|(w, wr)| {
                let f = wr.figures.iter().find(|f| f.key == *key)?;
                let v = value(&f.later);
                v.is_finite().then(|| bars(w, k, v, 0.0))
            });
            c.draw_series(series)?;
        }
    }
    for (k, key) in keys.iter().enumerate() {
        let y = 40 + 22 * k as i32;
        legend.draw(&Rectangle::new(
            [(10, y), (28, y + 14)],
            Palette99::pick(k).filled(),
        ))?;
        legend.draw(&Text::new(*key, (34, y), ("sans-serif", 14)))?;
    }
    Ok(())
}
