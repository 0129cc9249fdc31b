import { parseLabelSelector } from "../lib/labels";
import { dnsLabel, dnsSubdomain, Reader } from "./reader";

/** Monitoring: the Prometheus Operator objects and the exporter sidecars. */

export interface MonitoringSettings {
    /** ServiceMonitors and the PrometheusRule (CRDs monitoring.coreos.com/v1 of the Prometheus Operator). */
    readonly enabled: boolean;
    /** Labels the cluster's Prometheus selects ServiceMonitors and PrometheusRules by. */
    readonly selectorLabels: Readonly<Record<string, string>>;
    /** Where docs/runbooks.md is read: each alert's runbook_url is this plus `#<alert in lower case>`. */
    readonly runbookUrl: string;
    /** The label Grafana's sidecar loads dashboard ConfigMaps by; undefined: no dashboards. */
    readonly dashboardLabel?: Readonly<Record<string, string>>;
    /** The cert-manager Certificate of the API's TLS named by the stack (the platform's); undefined: the stack's own, if any. */
    readonly certificate?: { readonly namespace: string; readonly name: string };
    /** Exporter sidecars for PostgreSQL and Redis; undefined when off. */
    readonly exporters?: { readonly postgresImage: string; readonly redisImage: string };
}

export function readMonitoring(r: Reader): MonitoringSettings {
    const enabled = r.boolean("monitoringEnabled");
    const label = r.string("monitoringSelectorLabel");
    // The same key=value grammar as the network selectors, limited to one label.
    const parsed = parseLabelSelector(label);
    const selectorLabels = "labels" in parsed ? parsed.labels : {};
    if ("problem" in parsed || Object.keys(selectorLabels).length > 1) {
        r.problem(
            "monitoringSelectorLabel",
            label,
            "empty, or one label as key=value that the cluster's Prometheus selects rules and monitors by (kube-prometheus-stack: release=<its release name>)",
        );
    }
    // A URL or a repository-relative path without a fragment: the alert's section is appended.
    const runbookUrl = r.matching(
        "monitoringRunbookUrl",
        /^(https?:\/\/[^\s#]+|[A-Za-z0-9._~/-]+\.md)$/,
        "where docs/runbooks.md is read: an http(s) URL or a repository-relative .md path, without #",
    );
    const dashboardText = r.string("monitoringDashboardLabel");
    const dashboardParsed = parseLabelSelector(dashboardText);
    const dashboardLabel = "labels" in dashboardParsed && Object.keys(dashboardParsed.labels).length === 1 ? dashboardParsed.labels : undefined;
    if (dashboardText !== "" && !dashboardLabel) {
        r.problem("monitoringDashboardLabel", dashboardText, "empty, or one label as key=value that Grafana's dashboard sidecar selects ConfigMaps by (kube-prometheus-stack: grafana_dashboard=1)");
    }
    const certificateRef = r.string("monitoringCertificate");
    const [certNamespace, certName, ...rest] = certificateRef.split("/");
    const certificate = certificateRef === "" ? undefined : { namespace: certNamespace, name: certName };
    if (certificate && (rest.length > 0 || !dnsLabel.test(certNamespace) || !dnsSubdomain.test(certName ?? ""))) {
        r.problem("monitoringCertificate", certificateRef, "empty, or namespace/name of the cert-manager Certificate that serves the API's TLS");
    }
    const exporters = r.boolean("metricsExportersEnabled");
    const postgresImage = r.pinnedImage("postgresExporterImage");
    const redisImage = r.pinnedImage("redisExporterImage");
    return {
        enabled: enabled!,
        selectorLabels,
        runbookUrl: runbookUrl!,
        certificate,
        dashboardLabel,
        exporters: exporters ? { postgresImage: postgresImage!, redisImage: redisImage! } : undefined,
    };
}
