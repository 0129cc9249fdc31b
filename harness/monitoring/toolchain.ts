import { existsSync, readFileSync } from "fs";
import * as path from "path";

/** Where harness/monitoring/toolchain.sh put promtool and the Prometheus server (its toolchain.json). */
export interface MonitoringToolchain {
    readonly promtool: string;
    /** The Prometheus server (tests/data/metric-contract.test.ts); absent from a toolchain.json written before it was built. */
    readonly prometheus?: string;
    /** The Prometheus Go module both were built from (v0.316.0: Prometheus 3.x). */
    readonly prometheusModuleVersion: string;
}

/** The toolchain's cache folder ($HEALTHCARE_MONITORING_CACHE or ~/.cache/healthcare-backend/monitoring). */
export function monitoringToolchainCache(env: NodeJS.ProcessEnv = process.env): string {
    return env.HEALTHCARE_MONITORING_CACHE || path.join(env.HOME ?? "/root", ".cache", "healthcare-backend", "monitoring");
}

const buildIt = "run `npm run setup:monitoring` (or `npm run setup:checks`, which runs it; about 5 minutes the first time)";

/** The toolchain already built; fails with the command to run when it is not. */
export function readMonitoringToolchain(cache: string = monitoringToolchainCache()): MonitoringToolchain {
    const file = path.join(cache, "toolchain.json");
    const toolchain = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as MonitoringToolchain) : undefined;
    if (!toolchain || !existsSync(toolchain.promtool)) {
        throw new Error(`no promtool in ${cache}: ${buildIt}`);
    }
    return toolchain;
}

/** The Prometheus server the toolchain built; fails with the command to run when it is missing. */
export function readPrometheusServer(cache: string = monitoringToolchainCache()): string {
    const file = path.join(cache, "toolchain.json");
    const toolchain = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as MonitoringToolchain) : undefined;
    if (!toolchain?.prometheus || !existsSync(toolchain.prometheus)) {
        throw new Error(`no Prometheus server in ${cache}: ${buildIt}`);
    }
    return toolchain.prometheus;
}
