//! The SVG plot of a run: throughput and p99 latency per second, and the
//! latency percentile curve of the measured window.

use std::path::Path;

use plotters::prelude::*;

use super::LoadError;
use super::report::LoadReport;

const WIDTH_PX: u32 = 1000;
const HEIGHT_PX: u32 = 1100;
const FONT: &str = "sans-serif";

/// # Errors
/// When the file cannot be written.
pub fn write_svg(path: &Path, report: &LoadReport) -> Result<(), LoadError> {
    draw(path, report).map_err(|e| LoadError::Output(format!("{}: {e}", path.display())))
}

fn draw(path: &Path, report: &LoadReport) -> Result<(), Box<dyn std::error::Error>> {
    let (c, f) = (&report.config, &report.figures);
    let root = SVGBackend::new(path, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "settled load: {} {}, {} loop, {} terminals x {}: {:.0} confirmed/s, p99 {:.2} ms, ratio {:.2}",
        c.workload.name(),
        c.mode.name(),
        c.loop_kind,
        c.terminals,
        c.window,
        f.confirmed_per_s,
        ms(f.latency.p99_us),
        report.ceiling.ratio_before
    );
    let root = root.titled(&title, (FONT, 20))?;
    let panels = root.split_evenly((3, 1));
    #[allow(clippy::cast_precision_loss)]
    let warmup_s = c.warmup_s as f64;
    let t_max = report.series.last().map_or(1.0, |s| s.t_s).max(1.0);
    let ceiling = report.ceiling.payments_per_s_before;

    let throughput: Vec<(f64, f64)> = report.series.iter().map(|s| (s.t_s, s.confirmed_per_s)).collect();
    let y_max = throughput.iter().map(|p| p.1).fold(ceiling, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&panels[0])
        .caption("Confirmed payments per second", (FONT, 16))
        .margin(12)
        .margin_right(60)
        .x_label_area_size(40)
        .y_label_area_size(75)
        .build_cartesian_2d(0f64..t_max, 0f64..y_max.max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("time since the load started (s)")
        .y_desc("confirmed/s")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    chart
        .draw_series(LineSeries::new(throughput, BLUE.stroke_width(2)))?
        .label("confirmed/s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(vec![(0.0, ceiling), (t_max, ceiling)], RED))?
        .label(format!("verify ceiling {ceiling:.0}/s"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    warmup_marker(&mut chart, warmup_s, y_max)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;

    let p99: Vec<(f64, f64)> = report.series.iter().map(|s| (s.t_s, ms(s.p99_us))).collect();
    let y_max = p99.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&panels[1])
        .caption("p99 latency of each second (scheduled submission to durable receipt)", (FONT, 16))
        .margin(12)
        .margin_right(60)
        .x_label_area_size(40)
        .y_label_area_size(75)
        .build_cartesian_2d(0f64..t_max, 0f64..y_max.max(0.1))?;
    chart.configure_mesh().x_desc("time since the load started (s)").y_desc("p99 (ms)").draw()?;
    chart
        .draw_series(LineSeries::new(p99, MAGENTA.stroke_width(2)))?
        .label("p99 of the second")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MAGENTA.stroke_width(2)));
    warmup_marker(&mut chart, warmup_s, y_max)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;

    // x = decades of 1 / (1 - p): 0 is the 0th percentile, 2 the 99th, 3 the 99.9th.
    let curve: Vec<(f64, f64)> = report
        .latency_distribution
        .iter()
        .filter(|p| p.percentile < 100.0)
        .map(|p| (-(1.0 - p.percentile / 100.0).log10(), ms(p.latency_us)))
        .collect();
    let x_max = curve.last().map_or(1.0, |p| p.0.ceil()).max(1.0);
    // Whole decades only: 0%, 90%, 99%, 99.9% ...
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decades = x_max as usize;
    let y_max = ms(f.latency.max_us).max(curve.iter().map(|p| p.1).fold(0.0, f64::max)) * 1.1;
    let caption = format!(
        "Latency distribution over the measured window ({} payments; max {:.2} ms)",
        f.latency.count,
        ms(f.latency.max_us)
    );
    let mut chart = ChartBuilder::on(&panels[2])
        .caption(caption, (FONT, 16))
        .margin(12)
        .margin_right(60)
        .x_label_area_size(40)
        .y_label_area_size(75)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max.max(0.1))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(decades + 1)
        .x_label_formatter(&|x| if (x - x.round()).abs() < 1e-6 { percentile_label(*x) } else { String::new() })
        .draw()?;
    chart.draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))?;
    root.present()?;
    Ok(())
}

fn warmup_marker<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    warmup_s: f64,
    y_max: f64,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    if warmup_s > 0.0 {
        chart
            .draw_series(LineSeries::new(vec![(warmup_s, 0.0), (warmup_s, y_max)], GREEN.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label("end of warmup")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN.stroke_width(2)));
    }
    Ok(())
}

/// "99.9%" for x = 3 (decades of 1 / (1 - p)).
fn percentile_label(decades: f64) -> String {
    let percentile = 100.0 * (1.0 - 10f64.powf(-decades));
    let text = format!("{percentile:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

#[allow(clippy::cast_precision_loss)]
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_read_as_percentiles() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(4.0), "99.99%");
    }
}
