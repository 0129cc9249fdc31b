/**
 * A small typed builder for Grafana dashboards (the JSON model Grafana 11/12 loads, schemaVersion 39):
 * time-series and stat panels over Prometheus queries, laid out row by row. Grafana's own typed SDK
 * for TypeScript (@grafana/grafana-foundation-sdk) is still 0.0.x with a new API per Grafana release;
 * the dashboards here use a handful of fields, so they are built from these types instead, and every
 * query stays a plain string the tests can run against a real Prometheus.
 */

/** One Prometheus query of a panel; `legend` is Grafana's legendFormat (`{{pod}}`). */
export interface Query {
    readonly expr: string;
    readonly legend?: string;
}

/** Units Grafana knows that the dashboards use. */
export type Unit = "short" | "reqps" | "percentunit" | "s" | "bytes" | "ops" | "dtdurations";

/** A panel: a time series (lines over time) or a stat (the latest value, coloured by thresholds). */
export interface PanelSpec {
    readonly kind: "timeseries" | "stat";
    readonly title: string;
    readonly description?: string;
    readonly unit?: Unit;
    readonly queries: readonly Query[];
    /** Values from which the panel turns amber and red (the alerts' thresholds, where one exists). */
    readonly thresholds?: { readonly warning?: number; readonly critical?: number };
    /** Width in Grafana's 24-column grid (default: the row's width shared equally). */
    readonly width?: number;
}

/** A dashboard: rows of panels, each row 8 units high. */
export interface DashboardSpec {
    /** Stable uid (at most 40 characters): links and the sidecar's updates keep to it. */
    readonly uid: string;
    readonly title: string;
    readonly description: string;
    readonly tags: readonly string[];
    readonly rows: ReadonlyArray<readonly PanelSpec[]>;
}

/** The datasource every panel reads: the dashboard's `datasource` variable, so it works on any Grafana with a Prometheus datasource. */
const datasource = { type: "prometheus", uid: "${datasource}" } as const;

const rowHeight = 8;

function thresholdSteps(t: PanelSpec["thresholds"]) {
    return [
        { color: "green", value: null },
        ...(t?.warning !== undefined ? [{ color: "orange", value: t.warning }] : []),
        ...(t?.critical !== undefined ? [{ color: "red", value: t.critical }] : []),
    ];
}

/** Grafana's JSON model of a dashboard. */
export function dashboardJson(spec: DashboardSpec): Record<string, unknown> {
    let id = 1;
    const panels = spec.rows.flatMap((row, rowIndex) => {
        const free = row.filter((p) => p.width === undefined);
        const fixed = row.reduce((sum, p) => sum + (p.width ?? 0), 0);
        const share = free.length > 0 ? Math.floor((24 - fixed) / free.length) : 0;
        let x = 0;
        return row.map((panel) => {
            const w = panel.width ?? share;
            const gridPos = { h: rowHeight, w, x, y: rowIndex * rowHeight };
            x += w;
            return {
                id: id++,
                type: panel.kind,
                title: panel.title,
                ...(panel.description ? { description: panel.description } : {}),
                datasource,
                gridPos,
                fieldConfig: {
                    defaults: { unit: panel.unit ?? "short", thresholds: { mode: "absolute", steps: thresholdSteps(panel.thresholds) } },
                    overrides: [],
                },
                options: panel.kind === "stat" ? { reduceOptions: { calcs: ["lastNotNull"] }, colorMode: "background" } : { legend: { displayMode: "list", placement: "bottom" } },
                targets: panel.queries.map((q, i) => ({ refId: String.fromCharCode(65 + i), datasource, expr: q.expr, legendFormat: q.legend ?? "__auto" })),
            };
        });
    });
    return {
        uid: spec.uid,
        title: spec.title,
        description: spec.description,
        tags: [...spec.tags],
        editable: false,
        schemaVersion: 39,
        time: { from: "now-6h", to: "now" },
        refresh: "30s",
        templating: {
            list: [{ name: "datasource", label: "Prometheus", type: "datasource", query: "prometheus", current: {}, hide: 0 }],
        },
        panels,
    };
}

/** Every query of a dashboard, with its panel's title. */
export function queriesOf(spec: DashboardSpec): Array<{ panel: string; expr: string }> {
    return spec.rows.flatMap((row) => row.flatMap((panel) => panel.queries.map((q) => ({ panel: panel.title, expr: q.expr }))));
}
