import { spawnSync } from "child_process";
import { accessSync, constants, statSync } from "fs";
import * as path from "path";

/** A command that exited non-zero; its output already went to the terminal (or is attached). */
export class CommandError extends Error {
    constructor(
        readonly command: string,
        readonly status: number,
        readonly stderr = "",
    ) {
        super(`\`${command}\` failed with exit status ${status}${stderr ? `:\n${stderr.trim()}` : ""}`);
        this.name = "CommandError";
    }
}

/** A problem the user must fix (missing tool, bad argument); printed without a stack trace. */
export class UsageError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "UsageError";
    }
}

export interface Captured {
    status: number;
    stdout: string;
    stderr: string;
}

/** Runs the external tools (docker, kind, pulumi, kubectl, minikube) the operations drive. */
export interface Runner {
    /** The environment every command gets (PATH decides which executables are found). */
    readonly env: NodeJS.ProcessEnv;
    /** Runs with the terminal attached; throws CommandError on a non-zero exit. */
    run(command: string, args: readonly string[]): void;
    /** Runs and returns the output, with `input` on its stdin; never throws for a non-zero exit. */
    capture(command: string, args: readonly string[], input?: string): Captured;
    /** The executable's path on PATH, or undefined. */
    which(command: string): string | undefined;
}

const shown = (command: string, args: readonly string[]) => [command, ...args].join(" ");

/** The real runner: child processes with `env`. */
export function processRunner(env: NodeJS.ProcessEnv, cwd: string): Runner {
    return {
        env,
        run(command, args) {
            const result = spawnSync(command, args, { env, cwd, stdio: "inherit" });
            if (result.error) {
                throw new CommandError(shown(command, args), 127, result.error.message);
            }
            if (result.status !== 0) {
                throw new CommandError(shown(command, args), result.status ?? 1);
            }
        },
        capture(command, args, input) {
            const result = spawnSync(command, args, { env, cwd, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], input, encoding: "utf8" });
            return { status: result.error ? 127 : (result.status ?? 1), stdout: result.stdout ?? "", stderr: result.stderr ?? result.error?.message ?? "" };
        },
        which(command) {
            for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
                const candidate = path.join(dir, command);
                try {
                    if (statSync(candidate).isFile()) {
                        accessSync(candidate, constants.X_OK);
                        return candidate;
                    }
                } catch {
                    /* not here */
                }
            }
            return undefined;
        },
    };
}
