import { createServer, IncomingMessage, Server, ServerResponse } from "http";
import { hostname } from "os";
import { Config } from "./config";
import { log } from "./log";
import { ApiMetrics, createMetrics } from "./metrics";
import { Store } from "./store";

/** The three listeners of the stand-in and a way to stop them. */
export interface RunningApi {
    readonly store: Store;
    readonly metrics: ApiMetrics;
    /**
     * Graceful stop (SIGTERM): readiness turns false at once while every listener keeps serving for
     * `ms`, so the endpoints drop the pod before its connections close; then `close()`.
     */
    drain(ms: number): Promise<void>;
    /** Marks the pod not ready, closes the listeners and the connections. */
    close(): Promise<void>;
}

/**
 * What readiness reports: the pod itself, never its dependencies. A PostgreSQL restart or a Redis
 * failover must not take every API pod out of the Service at once (the ingress would answer 503 to
 * everything, health checks included); dependency health goes to `healthcare_dependency_up`.
 */
export type PodState = "starting" | "ready" | "draining";

/** Largest request body the API accepts, in bytes. */
const maxBody = 64 * 1024;
/** Longest CPU burn `/work` performs per request, in ms. */
const maxWorkMs = 1000;

class HttpError extends Error {
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(message);
    }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json", ...headers });
    res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > maxBody) {
            throw new HttpError(413, `request body larger than ${maxBody} bytes`);
        }
        chunks.push(chunk as Buffer);
    }
    try {
        const value = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
            throw new Error();
        }
        return value as Record<string, unknown>;
    } catch {
        throw new HttpError(400, "request body is not a JSON object");
    }
}

/** Keeps the CPU busy for `ms`: lets a local cluster exercise CPU-based autoscaling. */
function burnCpu(ms: number): number {
    const start = process.hrtime.bigint();
    const until = start + BigInt(ms) * 1_000_000n;
    let x = 0;
    while (process.hrtime.bigint() < until) {
        x = (x + Math.sqrt(x + 1)) % 1e9;
    }
    return Number(process.hrtime.bigint() - start) / 1e6;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], url: URL) => Promise<void>;
interface Route {
    method: string;
    /** The label `http_requests_total` records: the template, never the raw path (bounded cardinality). */
    template: string;
    pattern: RegExp;
    handler: Handler;
}

function apiRoutes(store: Store): Route[] {
    const route = (method: string, template: string, handler: Handler): Route => ({
        method,
        template,
        pattern: new RegExp(`^${template.replace(/:\w+/g, "(\\d+)")}$`),
        handler,
    });
    return [
        route("GET", "/", async (_req, res) => send(res, 200, { service: "healthcare-api", variant: "stand-in", pod: hostname() })),
        route("POST", "/appointments", async (req, res) => {
            const body = await readJson(req);
            const patient = typeof body.patient === "string" ? body.patient.trim() : "";
            const scheduledAt = new Date(typeof body.scheduledAt === "string" ? body.scheduledAt : Number.NaN);
            if (!patient || patient.length > 200) {
                throw new HttpError(400, "patient must be a non-empty string of at most 200 characters");
            }
            if (Number.isNaN(scheduledAt.getTime())) {
                throw new HttpError(400, "scheduledAt must be an ISO 8601 date-time");
            }
            send(res, 201, await store.createAppointment(patient, scheduledAt));
        }),
        route("GET", "/appointments/:id", async (_req, res, [id]) => {
            const { appointment, cached } = await store.getAppointment(id);
            if (!appointment) {
                throw new HttpError(404, `appointment ${id} not found`);
            }
            send(res, 200, appointment, { "x-cache": cached ? "hit" : "miss" });
        }),
        route("POST", "/appointments/:id/complete", async (_req, res, [id]) => {
            const appointment = await store.completeAppointment(id);
            if (!appointment) {
                throw new HttpError(404, `appointment ${id} not found`);
            }
            send(res, 200, appointment);
        }),
        route("GET", "/work", async (_req, res, _params, url) => {
            const ms = Number(url.searchParams.get("ms") ?? "50");
            if (!Number.isFinite(ms) || ms < 0 || ms > maxWorkMs) {
                throw new HttpError(400, `ms must be a number from 0 to ${maxWorkMs}`);
            }
            send(res, 200, { burnedMs: Math.round(burnCpu(ms)) });
        }),
    ];
}

function listen(server: Server, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, () => {
            server.off("error", reject);
            resolve();
        });
    });
}

function closeServer(server: Server): Promise<void> {
    return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
    });
}

/** Starts the API, health and metrics listeners on the configured ports. */
export async function startApi(config: Config): Promise<RunningApi> {
    const store = new Store(config);
    const metrics = createMetrics(store);
    const routes = apiRoutes(store);
    let state: PodState = "starting";

    const api = createServer(async (req, res) => {
        const url = new URL(req.url ?? "/", "http://localhost");
        const started = process.hrtime.bigint();
        let template = "unmatched";
        try {
            const candidates = routes.filter((r) => r.pattern.test(url.pathname));
            const match = candidates.find((r) => r.method === req.method);
            if (!match) {
                throw new HttpError(candidates.length > 0 ? 405 : 404, candidates.length > 0 ? "method not allowed" : "not found");
            }
            template = match.template;
            await match.handler(req, res, match.pattern.exec(url.pathname)!.slice(1), url);
        } catch (error) {
            const status = error instanceof HttpError ? error.status : 503;
            if (!(error instanceof HttpError)) {
                // A dependency failed: the client may retry; the details stay in the log.
                log("error", "request failed", { route: template, error: (error as Error).message });
            }
            send(res, status, { error: error instanceof HttpError ? error.message : "a dependency is unavailable" });
        } finally {
            const labels = { method: req.method ?? "GET", route: template };
            metrics.requests.inc({ ...labels, code: String(res.statusCode) });
            metrics.duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
        }
    });

    const health = createServer(async (req, res) => {
        const path = new URL(req.url ?? "/", "http://localhost").pathname;
        if (path === config.healthPath) {
            return send(res, 200, { status: "ok" });
        }
        if (path === config.readyPath) {
            return send(res, state === "ready" ? 200 : 503, { status: state });
        }
        send(res, 404, { error: "not found" });
    });

    const metricsServer = createServer(async (req, res) => {
        if (new URL(req.url ?? "/", "http://localhost").pathname !== "/metrics") {
            return send(res, 404, { error: "not found" });
        }
        send(res, 200, await metrics.registry.metrics(), { "content-type": metrics.registry.contentType });
    });

    const close = async () => {
        state = "draining";
        await Promise.all([closeServer(api), closeServer(health), closeServer(metricsServer)]);
        await store.close();
    };
    try {
        await listen(health, config.healthPort);
        await listen(metricsServer, config.metricsPort);
        await listen(api, config.port);
    } catch (error) {
        // A pod that cannot open its ports never reports ready; what did open is closed again.
        await close();
        throw error;
    }
    // Started: every listener is open. Ready from here until drained, whatever PostgreSQL and Redis do.
    state = "ready";
    log("info", "listening", { port: config.port, healthPort: config.healthPort, metricsPort: config.metricsPort });

    return {
        store,
        metrics,
        async drain(ms: number) {
            state = "draining";
            log("info", "draining", { ms });
            await new Promise((resolve) => setTimeout(resolve, ms));
            await close();
        },
        close,
    };
}
