import assert from "node:assert/strict";
import { ConfigError, readConfig } from "../../src/config";

/** A complete environment with no TLS settings and no Redis user: the tests add what they check. */
export const baseEnv: Readonly<Record<string, string>> = {
    PORT: "8080", METRICS_PORT: "9090", HEALTH_PORT: "8081", DATABASE_HOST: "db", DATABASE_NAME: "d",
    DATABASE_USER: "u", DATABASE_PASSWORD: "p", REDIS_CLUSTER_NODES: "r:6379",
};

/** The problems readConfig reports for `env`, or fails when it accepts it. */
export function problems(env: NodeJS.ProcessEnv): readonly string[] {
    try {
        readConfig(env);
    } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.problems;
    }
    assert.fail("readConfig accepted the environment");
}
