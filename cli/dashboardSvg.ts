/**
 * Draws each Grafana dashboard the production stack ships (its ConfigMaps' JSON, on Pulumi's mocks)
 * into docs/dashboard-<name>.svg: the panels where Grafana puts them, their titles, units, thresholds
 * and queries, and curves over synthetic sample data (a fixed pseudo-random series per query, so the
 * picture is the same every run). A rendering of the definition, not a screenshot of Grafana and not
 * measured data: `npm run docs:dashboards`. tests/dashboards.test.ts fails when a committed picture
 * differs from what this produces.
 */
import { writeFileSync } from "fs";
import * as path from "path";
import { ProgramRun, runStack } from "../harness/mockProgram";
import { projectRoot, stackConfig } from "../harness/stackConfig";

/** The stack whose dashboards are pictured (CloudNativePG, HPA, exporters: every panel there is). */
export const picturedStack = "production";

/** Where the picture of a dashboard ConfigMap's dashboard lives (healthcare-dashboard-api -> docs/dashboard-api.svg). */
export const dashboardPicture = (configMapName: string) => path.join(projectRoot, "docs", `${configMapName.replace(/^healthcare-/, "")}.svg`);

interface GrafanaPanel {
    type: "timeseries" | "stat";
    title: string;
    gridPos: { h: number; w: number; x: number; y: number };
    fieldConfig: { defaults: { unit: string; thresholds: { steps: Array<{ color: string; value: number | null }> } } };
    targets: Array<{ expr: string; legendFormat: string }>;
}

const colWidth = 40;
const rowUnit = 22;
const margin = 16;
const header = 64;
const palette = ["#3274d9", "#e0752d", "#56a64b", "#a352cc", "#f2cc0c", "#37872d"];
const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A fixed series of 48 points in [0.15, 0.85] for a query: a hash-seeded walk, the same every run. */
function sample(seed: string): number[] {
    let state = [...seed].reduce((h, ch) => (Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0), 2166136261);
    const next = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const points: number[] = [];
    let value = 0.3 + next() * 0.4;
    for (let i = 0; i < 48; i++) {
        value = Math.min(0.85, Math.max(0.15, value + (next() - 0.5) * 0.12));
        points.push(value);
    }
    return points;
}

function panelSvg(panel: GrafanaPanel): string {
    const x = margin + panel.gridPos.x * colWidth;
    const y = header + panel.gridPos.y * rowUnit;
    const w = panel.gridPos.w * colWidth - 8;
    const h = panel.gridPos.h * rowUnit - 8;
    const parts = [
        `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="4" fill="#181b1f" stroke="#2c3235"/>`,
        `<text x="${x + 10}" y="${y + 20}" font-size="13" font-weight="bold" fill="#d8d9da">${escape(panel.title)}</text>`,
    ];
    const unit = panel.fieldConfig.defaults.unit;
    const thresholds = panel.fieldConfig.defaults.thresholds.steps.filter((s) => s.value !== null);
    const plot = { x: x + 10, y: y + 32, w: w - 20, h: h - 32 - 16 * Math.min(panel.targets.length, 3) - 8 };
    if (panel.type === "stat") {
        const value = sample(panel.targets[0].expr)[47];
        parts.push(`<text x="${x + w / 2}" y="${plot.y + plot.h / 2 + 12}" font-size="30" text-anchor="middle" fill="#73bf69">${escape(formatSample(value, unit))}</text>`);
    } else {
        parts.push(`<rect x="${plot.x}" y="${plot.y}" width="${plot.w}" height="${plot.h}" fill="#111217"/>`);
        for (const step of thresholds) {
            // Thresholds of ratios sit where they are; others at a fixed height, as a marker of their existence.
            const level = unit === "percentunit" ? (step.value as number) : 0.9;
            const ty = plot.y + plot.h * (1 - level);
            parts.push(`<line x1="${plot.x}" y1="${ty}" x2="${plot.x + plot.w}" y2="${ty}" stroke="${step.color === "red" ? "#f2495c" : "#ff9830"}" stroke-dasharray="4 3"/>`);
        }
        panel.targets.forEach((target, i) => {
            const points = sample(target.expr)
                .map((v, j) => `${(plot.x + (plot.w * j) / 47).toFixed(1)},${(plot.y + plot.h * (1 - v)).toFixed(1)}`)
                .join(" ");
            parts.push(`<polyline points="${points}" fill="none" stroke="${palette[i % palette.length]}" stroke-width="1.5"/>`);
        });
    }
    panel.targets.slice(0, 3).forEach((target, i) => {
        const text = target.expr.length > w / 5.6 ? `${target.expr.slice(0, Math.floor(w / 5.6) - 1)}…` : target.expr;
        parts.push(
            `<text x="${x + 10}" y="${y + h - 8 - 16 * (Math.min(panel.targets.length, 3) - 1 - i)}" font-size="9.5" font-family="monospace" fill="${panel.type === "stat" ? "#8e8e8e" : palette[i % palette.length]}">${escape(text)}</text>`,
        );
    });
    return parts.join("\n");
}

/** A sample value as the panel's unit shows it (the numbers are synthetic, like the curves). */
function formatSample(value: number, unit: string): string {
    switch (unit) {
        case "percentunit":
            return `${(value * 100).toFixed(0)}%`;
        case "dtdurations":
            return `${(value * 24).toFixed(1)} h`;
        case "reqps":
            return `${(value * 100).toFixed(0)} req/s`;
        default:
            return (value * 10).toFixed(0);
    }
}

/** The picture of one dashboard's JSON model. */
export function dashboardSvg(dashboard: { title: string; panels: GrafanaPanel[] }, stack: string): string {
    const bottom = Math.max(...dashboard.panels.map((p) => p.gridPos.y + p.gridPos.h));
    const width = margin * 2 + 24 * colWidth;
    const height = header + bottom * rowUnit + margin;
    return [
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
        `<rect width="${width}" height="${height}" fill="#0b0c0e"/>`,
        `<text x="${margin}" y="26" font-size="18" font-weight="bold" fill="#d8d9da">${escape(dashboard.title)} (stack ${stack})</text>`,
        `<text x="${margin}" y="46" font-size="11" fill="#8e8e8e">Rendered by npm run docs:dashboards from the dashboard's own panels and queries; curves and numbers are synthetic sample data, not measurements and not a screenshot.</text>`,
        ...dashboard.panels.map(panelSvg),
        "</svg>",
        "",
    ].join("\n");
}

/** Every pictured dashboard: the ConfigMap's name and its picture (from `run`, when one is at hand). */
export async function dashboardPictures(run?: ProgramRun): Promise<Array<{ configMap: string; svg: string }>> {
    run ??= await runStack(stackConfig(picturedStack), picturedStack);
    return run
        .ofType("kubernetes:core/v1:ConfigMap")
        .filter((c) => c.inputs.metadata.labels?.grafana_dashboard === "1")
        .map((c) => {
            const [json] = Object.values(c.inputs.data as Record<string, string>);
            return { configMap: c.name, svg: dashboardSvg(JSON.parse(json), picturedStack) };
        });
}

async function main(): Promise<void> {
    for (const { configMap, svg } of await dashboardPictures()) {
        const file = dashboardPicture(configMap);
        writeFileSync(file, svg);
        process.stdout.write(`${path.relative(projectRoot, file)}: written\n`);
    }
}

if (require.main === module) {
    main().catch((error) => {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
    });
}
