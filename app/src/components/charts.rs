//! Small SVG charts drawn by the page itself: a line, horizontal bars and a donut. Each
//! is an image with a text alternative saying what it shows, and a legend or labels
//! readable without the drawing.

use leptos::prelude::*;

/// Width and height of the line chart's drawing area, in SVG units (it scales to its
/// box, which spans the page).
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 200.0;
/// Room left of and under the plot for the axis labels.
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 22.0;

/// One value per point, left to right (e.g. alerts per day).
#[component]
pub fn LineChart(
    /// The points: a label (e.g. a date) and a value.
    points: Vec<(String, i64)>,
    /// What the chart shows, for people who cannot see it.
    description: String,
) -> impl IntoView {
    let max = points.iter().map(|(_, value)| *value).max().unwrap_or(0).max(1);
    let plot_width = WIDTH - LEFT;
    let plot_height = HEIGHT - BOTTOM;
    let step = if points.len() > 1 { plot_width / (points.len() - 1) as f64 } else { 0.0 };
    let xy: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(index, (_, value))| {
            (LEFT + step * index as f64, plot_height - plot_height * (*value as f64) / max as f64)
        })
        .collect();
    let line = xy.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
    let area = match (xy.first(), xy.last()) {
        (Some(first), Some(last)) => format!("{:.1},{plot_height} {line} {:.1},{plot_height}", first.0, last.0),
        _ => String::new(),
    };
    let first_label = points.first().map(|(label, _)| label.clone()).unwrap_or_default();
    let last_label = points.last().map(|(label, _)| label.clone()).unwrap_or_default();
    let dots = xy
        .iter()
        .zip(&points)
        .map(|((x, y), (label, value))| {
            view! {
                <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="3" class="chart-dot">
                    <title>{format!("{label}: {value}")}</title>
                </circle>
            }
        })
        .collect_view();
    let aria_label = description.clone();
    view! {
        <svg class="chart line-chart" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=aria_label>
            <title>{description}</title>
            <line x1=LEFT y1=plot_height x2=WIDTH y2=plot_height class="chart-axis" />
            <line x1=LEFT y1="0" x2=LEFT y2=plot_height class="chart-axis" />
            <text x=LEFT - 6.0 y="10" text-anchor="end" class="chart-label">{max}</text>
            <text x=LEFT - 6.0 y=plot_height text-anchor="end" class="chart-label">"0"</text>
            <polygon points=area class="chart-area" />
            <polyline points=line class="chart-line" />
            {dots}
            <text x=LEFT y=HEIGHT - 4.0 class="chart-label">{first_label}</text>
            <text x=WIDTH y=HEIGHT - 4.0 text-anchor="end" class="chart-label">{last_label}</text>
        </svg>
    }
}

/// One horizontal bar per item, longest for the largest value.
#[component]
pub fn BarChart(
    /// The bars: a label, a value, and a class naming its colour (may be empty).
    bars: Vec<(String, i64, &'static str)>,
    /// What the chart shows, for people who cannot see it.
    description: String,
) -> impl IntoView {
    let max = bars.iter().map(|(_, value, _)| *value).max().unwrap_or(0).max(1);
    // Drawn narrower than the line chart: it sits in a third of the page.
    let width = 360.0;
    let row = 30.0;
    let height = row * bars.len().max(1) as f64;
    let label_width = 120.0;
    let rows = bars
        .into_iter()
        .enumerate()
        .map(|(index, (label, value, class))| {
            let y = row * index as f64;
            let length = ((width - label_width - 40.0) * value as f64 / max as f64).max(if value > 0 { 2.0 } else { 0.0 });
            view! {
                <g>
                    <title>{format!("{label}: {value}")}</title>
                    <text x=label_width - 8.0 y=y + 19.0 text-anchor="end" class="chart-label">{label}</text>
                    <rect x=label_width y=y + 5.0 width=format!("{length:.1}") height=row - 10.0 rx="3" class=format!("chart-bar {class}") />
                    <text x=label_width + length + 6.0 y=y + 19.0 class="chart-value">{value}</text>
                </g>
            }
        })
        .collect_view();
    let aria_label = description.clone();
    view! {
        <svg class="chart bar-chart" viewBox=format!("0 0 {width} {height}") role="img" aria-label=aria_label>
            <title>{description}</title>
            {rows}
        </svg>
    }
}

/// Shares of a whole as a ring, with a legend giving each share's value.
#[component]
pub fn DonutChart(
    /// The slices: a label, a value, and a class naming its colour.
    slices: Vec<(String, i64, &'static str)>,
    /// What the chart shows, for people who cannot see it.
    description: String,
) -> impl IntoView {
    let total: i64 = slices.iter().map(|(_, value, _)| *value).sum();
    let radius = 60.0_f64;
    let circumference = 2.0 * std::f64::consts::PI * radius;
    let mut offset = 0.0;
    let arcs = slices
        .iter()
        .filter(|(_, value, _)| *value > 0)
        .map(|(label, value, class)| {
            let length = circumference * *value as f64 / total.max(1) as f64;
            let arc = view! {
                <circle
                    cx="80"
                    cy="80"
                    r=radius
                    class=format!("donut-slice {class}")
                    stroke-dasharray=format!("{length:.2} {:.2}", circumference - length)
                    stroke-dashoffset=format!("{:.2}", -offset)
                >
                    <title>{format!("{label}: {value}")}</title>
                </circle>
            };
            offset += length;
            arc
        })
        .collect_view();
    let legend = slices
        .into_iter()
        .map(|(label, value, class)| {
            view! {
                <li>
                    <span class=format!("swatch {class}") aria-hidden="true"></span>
                    {label}
                    " "
                    <strong>{value}</strong>
                </li>
            }
        })
        .collect_view();
    let aria_label = description.clone();
    view! {
        <div class="donut">
            <svg class="chart donut-chart" viewBox="0 0 160 160" role="img" aria-label=aria_label>
                <title>{description}</title>
                <circle cx="80" cy="80" r=radius class="donut-track" />
                <g transform="rotate(-90 80 80)">{arcs}</g>
                <text x="80" y="78" text-anchor="middle" class="donut-total">{total}</text>
                <text x="80" y="98" text-anchor="middle" class="chart-label">"incidents"</text>
            </svg>
            <ul class="legend">{legend}</ul>
        </div>
    }
}
