/**
 * An SVG chart of one simulation: load and ready capacity in requests/s on the left axis, the
 * replicas the HPA set on the right axis (scaled so that N replicas sit at N pods' capacity: where
 * the replicas line is above the capacity line, pods are still starting).
 */
import { SimulationResult } from "./simulation";

const width = 960;
const height = 500;
const margin = { left: 80, right: 80, top: 70, bottom: 60 };
const plotWidth = width - margin.left - margin.right;
const plotHeight = height - margin.top - margin.bottom;

const colors = { load: "#1f77b4", capacity: "#2ca02c", replicas: "#ff7f0e", grid: "#dddddd", text: "#222222", marker: "#d62728" };

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A round axis maximum at or above `value` (1, 2 or 5 times a power of ten, or a multiple of it). */
export function niceCeiling(value: number): number {
    if (value <= 0) {
        return 1;
    }
    const power = 10 ** Math.floor(Math.log10(value));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => value / s <= 10) ?? 10 * power;
    return Math.ceil(value / step) * step;
}

function ticks(max: number, count: number): number[] {
    const step = niceCeiling(max / count);
    const result: number[] = [];
    for (let v = 0; v <= max + 1e-9; v += step) {
        result.push(v);
    }
    return result;
}

const format = (n: number) => (Math.abs(n) >= 1000 ? `${Number((n / 1000).toFixed(1))}k` : `${Number(n.toFixed(1))}`);

/** The chart as an SVG document. */
export function plotSimulation(result: SimulationResult, title: string, subtitle: string): string {
    const { timeline, perPodCapacity } = result;
    const duration = timeline.length;
    const highest = Math.max(...timeline.map((s) => Math.max(s.load, s.capacity, s.replicas * perPodCapacity)));
    const yMax = niceCeiling(highest * 1.1);
    const x = (t: number) => margin.left + (t / duration) * plotWidth;
    const y = (v: number) => margin.top + plotHeight - (v / yMax) * plotHeight;
    const point = (t: number, v: number) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`;

    const line = (values: number[]) => values.map((v, t) => point(t, v)).join(" ");
    // Steps: the value holds until the next second.
    const steps = (values: number[]) => values.flatMap((v, t) => [point(t, v), point(t + 1, v)]).join(" ");

    const parts: string[] = [];
    parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
    parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
    parts.push(`<text x="${margin.left}" y="24" font-size="16" fill="${colors.text}">${escape(title)}</text>`);
    parts.push(`<text x="${margin.left}" y="44" fill="${colors.text}">${escape(subtitle)}</text>`);

    // Grid and axes.
    const minutes = duration / 60;
    const minuteStep = niceCeiling(minutes / 10);
    for (let m = 0; m <= minutes + 1e-9; m += minuteStep) {
        parts.push(`<line x1="${x(m * 60)}" y1="${margin.top}" x2="${x(m * 60)}" y2="${margin.top + plotHeight}" stroke="${colors.grid}"/>`);
        parts.push(`<text x="${x(m * 60)}" y="${margin.top + plotHeight + 18}" text-anchor="middle" fill="${colors.text}">${m}</text>`);
    }
    for (const v of ticks(yMax, 8)) {
        parts.push(`<line x1="${margin.left}" y1="${y(v)}" x2="${margin.left + plotWidth}" y2="${y(v)}" stroke="${colors.grid}"/>`);
        parts.push(`<text x="${margin.left - 8}" y="${y(v) + 4}" text-anchor="end" fill="${colors.text}">${format(v)}</text>`);
    }
    const replicaMax = yMax / perPodCapacity;
    for (const r of ticks(replicaMax, 8)) {
        parts.push(`<text x="${margin.left + plotWidth + 8}" y="${y(r * perPodCapacity) + 4}" fill="${colors.replicas}">${format(r)}</text>`);
    }
    parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="${colors.text}"/>`);
    parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 16}" text-anchor="middle" fill="${colors.text}">time (minutes)</text>`);
    parts.push(
        `<text transform="translate(20 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle" fill="${colors.text}">requests per second</text>`,
        `<text transform="translate(${width - 16} ${margin.top + plotHeight / 2}) rotate(90)" text-anchor="middle" fill="${colors.replicas}">replicas (${format(perPodCapacity)} req/s each at target)</text>`,
    );

    // Peak capacity, when it fits on the scale.
    if (result.peakCapacity <= yMax) {
        parts.push(`<line x1="${margin.left}" y1="${y(result.peakCapacity)}" x2="${margin.left + plotWidth}" y2="${y(result.peakCapacity)}" stroke="${colors.capacity}" stroke-dasharray="2 4"/>`);
    }
    // Series.
    parts.push(`<polyline id="replicas" fill="none" stroke="${colors.replicas}" stroke-width="2" stroke-dasharray="6 3" points="${steps(timeline.map((s) => s.replicas * perPodCapacity))}"/>`);
    parts.push(`<polyline id="capacity" fill="none" stroke="${colors.capacity}" stroke-width="2.5" points="${steps(timeline.map((s) => s.capacity))}"/>`);
    parts.push(`<polyline id="load" fill="none" stroke="${colors.load}" stroke-width="2" points="${line(timeline.map((s) => s.load))}"/>`);
    if (result.timeToCapacity !== undefined) {
        const t = result.riseStart + result.timeToCapacity;
        parts.push(`<line x1="${x(t)}" y1="${margin.top}" x2="${x(t)}" y2="${margin.top + plotHeight}" stroke="${colors.marker}" stroke-dasharray="3 3"/>`);
        parts.push(`<text x="${x(t) + 4}" y="${margin.top + 14}" fill="${colors.marker}">capacity reached after ${result.timeToCapacity} s</text>`);
    }

    // Legend.
    const legend: Array<[string, string, string]> = [
        ["load", colors.load, ""],
        ["capacity of ready pods", colors.capacity, ""],
        ["replicas set by the HPA", colors.replicas, "6 3"],
        [`peak capacity ${format(result.peakCapacity)} req/s${result.peakCapacity > yMax ? " (off scale)" : ""}`, colors.capacity, "2 4"],
    ];
    let lx = margin.left + 10;
    legend.forEach(([label, color, dash]) => {
        const ly = margin.top - 10;
        parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`);
        parts.push(`<text x="${lx + 30}" y="${ly + 4}" fill="${colors.text}">${escape(label)}</text>`);
        lx += 30 + label.length * 6.5 + 24; // about 6.5 px per character at 12 px
    });
    parts.push("</svg>");
    return `${parts.join("\n")}\n`;
}
