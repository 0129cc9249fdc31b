import { spawnSync, SpawnSyncReturns } from "child_process";
import { mkdirSync, writeFileSync } from "fs";
import * as path from "path";
import { postgresRoles } from "../../components/postgres/statefulSet";
import { projectRoot } from "../../harness/stackConfig";
import { PostgresServer } from "./postgres";

/**
 * The statefulset engine's roles for the tests that run components/assets/postgres-roles.sh against a
 * real server: one folder of credentials per role, laid out as the pod mounts each role's Secret.
 */

export type RoleKey = "superuser" | "api" | "exporter" | "backup";

export interface RoleCredentials {
    user: string;
    password: string;
    /** Folder with the files `username` and `password` (the API's also `database`). */
    dir: string;
}

export type RoleSet = Record<RoleKey, RoleCredentials>;

/** The API's role and database as the shipped stacks name them (postgresUser, postgresDatabase). */
export const apiRole = { user: "healthcare", database: "healthcare" } as const;

/** Writes a credentials folder per role under `root`, with these passwords. */
export function writeRoleCredentials(root: string, passwords: Record<RoleKey, string>): RoleSet {
    const users: Record<RoleKey, string> = { superuser: postgresRoles.superuser, api: apiRole.user, exporter: postgresRoles.exporter, backup: postgresRoles.backup };
    const roles = {} as RoleSet;
    for (const key of Object.keys(users) as RoleKey[]) {
        const dir = path.join(root, `${key}-credentials`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, "username"), users[key]);
        writeFileSync(path.join(dir, "password"), passwords[key]);
        if (key === "api") {
            writeFileSync(path.join(dir, "database"), apiRole.database);
        }
        roles[key] = { user: users[key], password: passwords[key], dir };
    }
    return roles;
}

/** The environment the pod's sidecar gives postgres-roles.sh, for the server `pg` and these credentials. */
export function rolesEnv(pg: PostgresServer, roles: RoleSet): Record<string, string> {
    return {
        PATH: pg.env.PATH,
        PGHOST: pg.env.PGHOST,
        PGPORT: pg.env.PGPORT,
        SUPERUSER_CREDENTIALS: roles.superuser.dir,
        API_CREDENTIALS: roles.api.dir,
        EXPORTER_CREDENTIALS: roles.exporter.dir,
        BACKUP_CREDENTIALS: roles.backup.dir,
        WAIT_SECONDS: "30",
    };
}

/** Runs postgres-roles.sh once against `pg` with these credentials, as the pod's sidecar runs it. */
export function runRolesScript(pg: PostgresServer, roles: RoleSet, extraEnv: Record<string, string> = {}): SpawnSyncReturns<string> {
    return spawnSync("sh", [path.join(projectRoot, "components", "assets", "postgres-roles.sh")], {
        env: { ...rolesEnv(pg, roles), ...extraEnv },
        encoding: "utf8",
        timeout: 120000,
    });
}
