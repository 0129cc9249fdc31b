import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { stringify } from "yaml";
import { jobs, prometheusAdapterRules } from "../../components/monitoring";
import { redisUsers } from "../../components/redisCluster";
import { ProgramRun, runStack } from "../../harness/mockProgram";
import { readPrometheusServer } from "../../harness/monitoring/toolchain";
import { onStatefulSetEngine, projectRoot, shippedStacks, stackConfig } from "../../harness/stackConfig";
import { externalMetrics } from "../../lib/metrics";
import { names } from "../../lib/names";
import { PostgresServer, startPostgres } from "../support/postgres";
import { freePort, stopProcess } from "../support/processes";
import { clusterInfo, RedisNode, redisCli, startRedisNodes, stopRedisNodes, testPasswords, testTls } from "../support/redis";
import { metricsIn, thresholdFree } from "../support/promql";
import { CONFIG_MAP, DEPLOYMENT, HPA, PROMETHEUS_RULE, SERVICE, SERVICE_MONITOR } from "../support/resourceTypes";

/**
 * The metric contract on real processes, the part this machine can run: a real Prometheus server (the
 * Prometheus Go module v0.316.0, built like promtool: harness/monitoring/toolchain.sh) scrapes the
 * stand-in API (app/, built with its own tsc, running against a real PostgreSQL and a real
 * redis-server on loopback) and evaluates the stack's rendered PrometheusRule. Every query that reads
 * only what the API serves (its recording rules and the series they record, its alerts' expressions
 * with the thresholds removed, the prometheus-adapter queries behind the HPA's custom metrics, the
 * dashboards' queries) must answer with at least one series, through Prometheus' HTTP API.
 *
 * Out of reach, by a rule below (`outOfReach`), not rule by rule: what redis_exporter, postgres_exporter,
 * CloudNativePG and its Barman Cloud plugin, kube-state-metrics, the kubelet and cAdvisor and
 * cert-manager serve, and the `up` of their scrape targets. The exporters cannot be built here (the Go
 * module proxy answers 403 for github.com/oliver006/redis_exporter and
 * github.com/prometheus-community/postgres_exporter), and there is no cluster; tests/monitoring.test.ts
 * holds those names to lib/metrics.ts' externalMetrics instead.
 */

interface Rule {
    record?: string;
    alert?: string;
    expr: string;
    [key: string]: unknown;
}
interface RuleGroup {
    name: string;
    interval?: string;
    rules: Rule[];
}

/** One query the contract needs answered with at least one series, and who reads it. */
interface Probe {
    reader: string;
    query: string;
}

/** Every shipped stack and staging on the statefulset engine, as tests/promtool.test.ts renders them. */
const variants: Array<[string, () => Promise<ProgramRun>]> = [
    ...shippedStacks.map((stack): [string, () => Promise<ProgramRun>] => [stack, () => runStack(stackConfig(stack), stack)]),
    ["staging (statefulset)", () => runStack(stackConfig("staging", onStatefulSetEngine), "staging")],
];
/** The stack whose rule file the Prometheus server loads (every variant's API rules are the same expressions; each variant's are also queried). */
const loadedStack = "production";

const groupsOf = (run: ProgramRun): RuleGroup[] => run.get(PROMETHEUS_RULE, "healthcare-backend").inputs.spec.groups;
const subset = (labels: Record<string, string> | undefined, selector: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/**
 * The target labels the API's ServiceMonitor gives its scrape, read from the rendered objects: the
 * Prometheus Operator's generated relabeling sets `namespace`, `service`, `pod`, `container` and
 * `endpoint` from Kubernetes' service discovery and `job` from the Service's `jobLabel` label.
 */
function apiTargetLabels(run: ProgramRun): Record<string, string> {
    const monitor = run.get(SERVICE_MONITOR, names.monitoring.apiServiceMonitor).inputs;
    const [port] = monitor.spec.endpoints.map((e: { port: string }) => e.port);
    const service = run.ofType(SERVICE).find((s) => subset(s.inputs.metadata.labels, monitor.spec.selector.matchLabels))!.inputs;
    const deployment = run.ofType(DEPLOYMENT).find((d) => subset(d.inputs.spec.template.metadata.labels, service.spec.selector))!.inputs;
    const container = deployment.spec.template.spec.containers.find((c: { ports?: Array<{ name: string }> }) => c.ports?.some((p) => p.name === port));
    return {
        namespace: monitor.spec.namespaceSelector.matchNames[0],
        service: service.metadata.name,
        job: service.metadata.labels[monitor.spec.jobLabel],
        // A ReplicaSet's pod name: the Deployment's name, the pod template hash, a random suffix.
        pod: `${deployment.metadata.name}-5d8f7c9b6d-q2x7k`,
        container: container.name,
        endpoint: port,
    };
}

/** The API's declared metrics (app/src/metrics.ts), with a histogram's series. */
function declaredByApi(): Set<string> {
    const source = readFileSync(path.join(projectRoot, "app", "src", "metrics.ts"), "utf8");
    const declared = [...source.matchAll(/name: "([a-z_]+)"/g)].map((m) => m[1]);
    return new Set(declared.flatMap((name) => [name, `${name}_bucket`, `${name}_sum`, `${name}_count`]));
}

/**
 * What serves a metric out of this test's reach: the exporters, CloudNativePG (and its Barman Cloud
 * plugin), kube-state-metrics, the kubelet and cAdvisor, cert-manager, by the metric name's prefix;
 * and `up` of any scrape target but the API's. Undefined: the API serves it, or Prometheus records it
 * from what the API serves, so a query on it must answer.
 */
const outOfReachPrefix = /^(redis|pg|cnpg|barman_cloud|kube|kubelet|container|certmanager)_/;

/** The base series a query reads: a recorded series stands for what its recording rule reads; `up` is `up{job=...}`. */
function baseSeries(query: string, recordings: Map<string, string>, seen = new Set<string>()): string[] {
    const found: string[] = [];
    for (const metric of metricsIn(query)) {
        const recorded = recordings.get(metric);
        if (recorded !== undefined && !seen.has(metric)) {
            found.push(...baseSeries(recorded, recordings, new Set([...seen, metric])));
        } else if (metric === "up") {
            found.push(...[...query.matchAll(/\bup\{([^}]*)\}/g)].map((m) => `up{job=${/job="([^"]*)"/.exec(m[1])?.[1] ?? "?"}}`));
        } else {
            found.push(metric);
        }
    }
    return found;
}

const outOfReach = (series: string, apiJob: string) => (series.startsWith("up{") ? series !== `up{job=${apiJob}}` : outOfReachPrefix.test(series));

/** The probes of one rendered variant: its rules, its HPA's adapter queries and its dashboards. */
function probesOf(variant: string, groups: RuleGroup[], run: ProgramRun, target: Record<string, string>): Probe[] {
    const probes: Probe[] = [];
    for (const rule of groups.flatMap((g) => g.rules)) {
        if (rule.record) {
            probes.push({ reader: `${variant}: recording rule ${rule.record}`, query: rule.expr });
            probes.push({ reader: `${variant}: recorded series ${rule.record}`, query: rule.record });
        } else {
            for (const query of thresholdFree(rule.expr)) {
                probes.push({ reader: `${variant}: alert ${rule.alert}`, query });
            }
        }
    }
    // The adapter's metricsQuery as it fills it for a Pods metric of the HPA: the series, the namespace
    // and the pods the HPA asks about, grouped by pod.
    const hpaMetrics: string[] = run
        .ofType(HPA)
        .flatMap((h) => h.inputs.spec.metrics ?? [])
        .filter((m: { type: string }) => m.type === "Pods")
        .map((m: { pods: { metric: { name: string } } }) => m.pods.metric.name);
    for (const metric of hpaMetrics) {
        const rule = prometheusAdapterRules().find((r) => r.name.as === metric);
        assert.ok(rule, `${variant}: no prometheus-adapter rule serves the HPA's ${metric}`);
        probes.push({ reader: `${variant}: adapter seriesQuery for the HPA's ${metric}`, query: rule.seriesQuery });
        const metricsQuery = rule.metricsQuery
            .replace("<<.Series>>", metric)
            .replace("<<.LabelMatchers>>", `namespace="${target.namespace}",pod=~"${target.pod}"`)
            .replace("<<.GroupBy>>", "pod");
        probes.push({ reader: `${variant}: adapter metricsQuery for the HPA's ${metric}`, query: metricsQuery });
    }
    for (const configMap of run.ofType(CONFIG_MAP).filter((c) => c.inputs.metadata.labels?.grafana_dashboard === "1")) {
        const [json] = Object.values(configMap.inputs.data as Record<string, string>);
        for (const panel of JSON.parse(json).panels) {
            for (const t of panel.targets) {
                // Grafana's variables: the dashboards select the namespace literally; only the datasource is a variable.
                assert.doesNotMatch(t.expr, /\$/, `${configMap.name}: ${panel.title}: a Grafana variable in a query this test would have to fill`);
                probes.push({ reader: `${variant}: dashboard ${configMap.name}: ${panel.title}`, query: t.expr });
            }
        }
    }
    return probes;
}

/** Waits for `check`; `what` may be a function, to show a process's output as it is when the wait gives up. */
async function waitFor(check: () => Promise<boolean>, what: string | (() => string), timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check().catch(() => false))) {
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
}

/** A process's last output, for failure messages. */
function tail(child: ChildProcess): () => string {
    let output = "";
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-3000));
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    return () => output;
}

/** The rule file Prometheus loads: the rendered groups, each evaluated every second instead of every 15 s (a 1 s scrape). */
const ruleFile = (groups: RuleGroup[]) => stringify({ groups: groups.map((g) => ({ ...g, interval: "1s" })) });

describe("metric contract on real processes: a real Prometheus scrapes the stand-in API and answers every rule, alert, adapter and dashboard query that reads the API's metrics (the exporters' are out of reach)", function () {
    // Building the stand-in, starting PostgreSQL, Redis, the API and Prometheus, rendering four variants.
    this.timeout(180_000);

    let prometheusBinary: string;
    let dir: string;
    let pg: PostgresServer | undefined;
    let redis: RedisNode[] = [];
    let api: ChildProcess | undefined;
    let prometheus: ChildProcess | undefined;
    let prometheusUrl: string;
    let prometheusOutput: () => string;
    let traffic: { stop: () => Promise<void>; counts: Record<number, number> } | undefined;
    let loaded: RuleGroup[];
    let target: Record<string, string>;
    let probes: Probe[];

    async function query(promql: string): Promise<unknown[]> {
        const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
        const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
        if (body.status !== "success") {
            throw new Error(`Prometheus refused ${promql}: ${body.error}`);
        }
        return body.data!.resultType === "scalar" ? [body.data!.result] : (body.data!.result as unknown[]);
    }

    /** The probes that answer with no series. */
    async function unanswered(list: Probe[]): Promise<Probe[]> {
        const answers = await Promise.all(list.map(async (p) => ((await query(p.query)).length > 0 ? undefined : p)));
        return answers.filter((p): p is Probe => p !== undefined);
    }

    before(async function () {
        // Fails (never skips) without the server: the same message as promtool's.
        prometheusBinary = readPrometheusServer();
        dir = mkdtempSync(path.join(tmpdir(), "metric-contract-"));

        // The stand-in as its own tests and its image build it (tsc -p app: app/dist, git-ignored).
        const appTsc = path.join(projectRoot, "app", "node_modules", "typescript", "bin", "tsc");
        if (!existsSync(appTsc)) {
            throw new Error("the stand-in API's dependencies are not installed (app/node_modules): run npm run setup:checks (or npm ci --prefix app)");
        }
        const build = new Promise<void>((resolve, reject) => {
            const tsc = spawn(process.execPath, [appTsc, "-p", path.join(projectRoot, "app")], { stdio: "pipe" });
            const output = tail(tsc);
            tsc.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`tsc -p app failed:\n${output()}`))));
        });
        build.catch(() => undefined); // awaited below
        [pg, redis] = await Promise.all([startPostgres(), startRedisNodes(1)]);
        // One node serving every slot: a Redis Cluster the API's cluster client accepts. It announces
        // its loopback address (a node that never met a peer does not know it otherwise).
        redisCli(redis[0], "CONFIG", "SET", "cluster-announce-ip", "127.0.0.1");
        redisCli(redis[0], "CLUSTER", "ADDSLOTSRANGE", "0", "16383");
        await waitFor(async () => clusterInfo(redis[0]).cluster_state === "ok", "cluster_state:ok", 20_000);

        // One program run at a time: the mocks are process-wide.
        const rendered: Array<readonly [string, ProgramRun]> = [];
        for (const [name, run] of variants) {
            rendered.push([name, await run()]);
        }
        const runs = new Map(rendered);
        const production = runs.get(loadedStack)!;
        loaded = groupsOf(production);
        target = apiTargetLabels(production);
        assert.strictEqual(target.job, jobs.api, "the ServiceMonitor's job is the API's");
        // Every variant's queries, on the one API target Prometheus scrapes (each variant renders the same labels: checked).
        for (const [name, run] of rendered) {
            assert.deepStrictEqual(apiTargetLabels(run), target, `${name}'s ServiceMonitor gives the API's target other labels`);
        }
        probes = rendered.flatMap(([name, run]) => probesOf(name, groupsOf(run), run, target));

        await build;
        const ports = { port: await freePort(), metrics: await freePort(), health: await freePort(), prometheus: await freePort() };
        // The environment components/api.ts gives the container, for these servers.
        api = spawn(process.execPath, [path.join(projectRoot, "app", "dist", "src", "main.js")], {
            env: {
                PATH: process.env.PATH,
                PORT: String(ports.port),
                METRICS_PORT: String(ports.metrics),
                HEALTH_PORT: String(ports.health),
                DATABASE_HOST: "127.0.0.1",
                DATABASE_PORT: String(pg.port),
                DATABASE_NAME: "postgres",
                DATABASE_USER: pg.user,
                DATABASE_PASSWORD: pg.password,
                REDIS_CLUSTER_NODES: redis[0].address,
                // As the API's ACL user, over TLS verified with the nodes' CA (redisTls).
                REDIS_USERNAME: redisUsers.api.name,
                REDIS_PASSWORD: testPasswords.api,
                REDIS_TLS_CA_FILE: testTls().ca,
                REDIS_TLS_SERVERNAME: names.redis.tlsServerName,
                CHECK_TIMEOUT_MS: "1000",
                DRAIN_MS: "0",
            },
            stdio: ["ignore", "pipe", "pipe"],
        });
        const apiOutput = tail(api);
        await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.health}/readyz`)).status === 200, () => `the stand-in API's readiness:\n${apiOutput()}`, 30_000);

        // What the ServiceMonitor's generated scrape config gives the target, reproduced by relabeling a
        // static target: the labels above (its namespace, Service, pod, container, port name and job);
        // `instance` stays the address, as with a pod IP. Scraped and evaluated every second.
        writeFileSync(path.join(dir, "rules.yaml"), ruleFile(loaded));
        writeFileSync(
            path.join(dir, "prometheus.yml"),
            stringify({
                global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
                rule_files: ["rules.yaml"],
                scrape_configs: [
                    {
                        job_name: `serviceMonitor/${target.namespace}/${names.monitoring.apiServiceMonitor}/0`,
                        metrics_path: "/metrics",
                        static_configs: [{ targets: [`127.0.0.1:${ports.metrics}`] }],
                        relabel_configs: Object.entries(target).map(([label, value]) => ({ action: "replace", target_label: label, replacement: value })),
                    },
                ],
            }),
        );
        prometheusUrl = `http://127.0.0.1:${ports.prometheus}`;
        prometheus = spawn(
            prometheusBinary,
            [
                `--config.file=${path.join(dir, "prometheus.yml")}`,
                `--storage.tsdb.path=${path.join(dir, "data")}`,
                `--web.listen-address=127.0.0.1:${ports.prometheus}`,
                "--web.enable-lifecycle",
            ],
            { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
        );
        prometheusOutput = tail(prometheus);
        await waitFor(async () => (await fetch(`${prometheusUrl}/-/ready`)).status === 200, () => `Prometheus to be ready:\n${prometheusOutput()}`, 30_000);

        // Traffic while Prometheus scrapes: appointments created and read (2xx), and ids PostgreSQL
        // cannot hold (bigint out of range: the store's query fails, the API answers 503), so 5xx rates exist.
        const base = `http://127.0.0.1:${ports.port}`;
        const counts: Record<number, number> = {};
        let running = true;
        const loop = (async () => {
            while (running) {
                const created = await fetch(`${base}/appointments`, {
                    method: "POST",
                    headers: { "content-type": "application/json" },
                    body: JSON.stringify({ patient: "contract", scheduledAt: "2027-01-04T09:00:00Z" }),
                });
                counts[created.status] = (counts[created.status] ?? 0) + 1;
                const { id } = (await created.json()) as { id: string };
                for (const res of await Promise.all([`/appointments/${id}`, "/appointments/99999999999999999999", "/"].map((p) => fetch(`${base}${p}`)))) {
                    counts[res.status] = (counts[res.status] ?? 0) + 1;
                    await res.arrayBuffer();
                }
                await new Promise((r) => setTimeout(r, 100));
            }
        })();
        loop.catch(() => undefined); // awaited by stop()
        traffic = { counts, stop: async () => ((running = false), await loop) };
    });

    after(async () => {
        await traffic?.stop().catch(() => undefined);
        if (prometheus) await stopProcess(prometheus, "SIGTERM");
        if (api) await stopProcess(api, "SIGTERM");
        await Promise.all([pg?.stop(), stopRedisNodes(redis)]);
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("out of reach: exactly the queries that read what the exporters, CloudNativePG, kube-state-metrics, the kubelet, cAdvisor and cert-manager serve (lib/metrics.ts' externalMetrics), never a metric of the API", () => {
        const api = declaredByApi();
        const external: Probe[] = [];
        for (const [variant] of variants) {
            const mine = probes.filter((p) => p.reader.startsWith(`${variant}: `));
            assert.ok(mine.length > 0, variant);
        }
        for (const probe of probes) {
            const series = baseSeries(probe.query, recordingsOf(loaded));
            const outside = series.filter((s) => outOfReach(s, target.job));
            if (outside.length > 0) {
                external.push(probe);
                // Each is listed with the process that serves it (never the API), or is the scrape health of another job.
                for (const s of outside.filter((x) => !x.startsWith("up{"))) {
                    assert.ok(s in externalMetrics, `${probe.reader} reads ${s}: out of reach by its prefix, but lib/metrics.ts' externalMetrics does not say what serves it`);
                }
            }
        }
        // The rule by prefix and the list agree: what the list says another process serves is out of reach, and the API serves none of it.
        for (const metric of Object.keys(externalMetrics).filter((m) => m !== "up")) {
            assert.match(metric, outOfReachPrefix, `${metric} (${externalMetrics[metric]}) is served outside the API: the prefix rule must class it out of reach`);
        }
        assert.deepStrictEqual([...api].filter((m) => outOfReachPrefix.test(m)), [], "the API declares no metric the prefix rule would class out of reach");
        assert.ok(external.length > 0 && external.length < probes.length, `${external.length} of ${probes.length}`);
    });

    it("every recording rule and recorded series, every alert's expression without its threshold, the HPA's adapter queries and every dashboard query that reads the API's metrics answers with at least one series", async () => {
        const inReach = probes.filter((p) => !baseSeries(p.query, recordingsOf(loaded)).some((s) => outOfReach(s, target.job)));
        const readers = new Set(inReach.map((p) => p.reader.replace(/^[^:]+: /, "")));
        // What must be among them, whatever the variant: the HPA's series, the API's alerts, its dashboard.
        for (const reader of [
            "recorded series http_requests_per_second",
            "recorded series active_appointments_count",
            "recorded series queue_depth",
            "alert HealthcareApiHighErrorRate",
            "alert HealthcareApiDependencyDown",
            "alert HealthcareApiPodDependencyDown",
            "alert HealthcareApiTargetMissing",
            "adapter metricsQuery for the HPA's http_requests_per_second",
            "adapter metricsQuery for the HPA's active_appointments_count",
            "dashboard healthcare-dashboard-api: Requests per second",
        ]) {
            assert.ok(readers.has(reader), `${reader} is checked (checked: ${[...readers].join("; ")})`);
        }
        let missing: Probe[] = inReach;
        // rate() needs two scrapes, and a recorded series an evaluation after them: a few seconds.
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && (missing = await unanswered(missing)).length > 0) {
            await new Promise((r) => setTimeout(r, 1000));
        }
        assert.deepStrictEqual(
            missing.map((p) => `${p.reader}: ${p.query}`),
            [],
            `answered nothing after 30 s (traffic: ${JSON.stringify(traffic?.counts)}); Prometheus:\n${prometheusOutput()}`,
        );
        assert.ok((traffic?.counts[503] ?? 0) > 0 && (traffic?.counts[201] ?? 0) > 0, JSON.stringify(traffic?.counts));
    });

    it("fails when a metric is renamed in one place only: http_requests_total renamed in the loaded rules (the API still serves it) leaves the request rate, its adapter queries, its panels and the error-rate alert unanswered", async () => {
        const renamed = loaded.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r, expr: r.expr.replace(/\bhttp_requests_total\b/g, "http_requests_count") })) }));
        writeFileSync(path.join(dir, "rules.yaml"), ruleFile(renamed));
        const reloaded = await fetch(`${prometheusUrl}/-/reload`, { method: "POST" });
        assert.strictEqual(reloaded.status, 200, await reloaded.text());
        // The reloaded recording rule answers nothing, so Prometheus marks its old series stale.
        await waitFor(async () => (await query("http_requests_per_second")).length === 0, "http_requests_per_second to go stale after the reload", 20_000);

        const variant = loadedStack;
        const production = await variants.find(([name]) => name === variant)![1]();
        const check = probesOf(variant, renamed, production, target).filter((p) => !baseSeries(p.query, recordingsOf(renamed)).some((s) => outOfReach(s, target.job)));
        const unansweredProbes = await unanswered(check);
        const missing = unansweredProbes.map((p) => p.reader.replace(/^[^:]+: /, ""));
        for (const reader of [
            "recording rule http_requests_per_second",
            "recorded series http_requests_per_second",
            "alert HealthcareApiHighErrorRate",
            "dashboard healthcare-dashboard-api: Requests per second",
        ]) {
            assert.ok(missing.includes(reader), `${reader} reported missing (missing: ${missing.join("; ")})`);
        }
        // Nothing that reads neither the renamed metric nor the series recorded from it goes missing.
        const affected = (p: Probe) => /\bhttp_requests_(count|per_second)\b/.test(p.query);
        assert.deepStrictEqual(unansweredProbes.filter((p) => !affected(p)).map((p) => `${p.reader}: ${p.query}`), []);
    });
});

/** Recorded series name -> its expression. */
function recordingsOf(groups: RuleGroup[]): Map<string, string> {
    return new Map(groups.flatMap((g) => g.rules).filter((r) => r.record).map((r) => [r.record!, r.expr]));
}
