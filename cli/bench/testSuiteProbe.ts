/**
 * Loaded into the mocha process by the benchmark (`--require bin/cli/bench/testSuiteProbe.js`): when
 * the process exits, writes the resources the tests registered on Pulumi's mocks and the process's
 * CPU time as JSON to the file named by BENCH_PROBE_FILE.
 */
import { writeFileSync } from "fs";

const target = process.env["BENCH_PROBE_FILE"];
if (target) {
    process.on("exit", () => {
        // Required only now, so that the probe changes nothing about what the tests load and when.
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const { registeredResourceCount } = require("../../harness/mockProgram") as typeof import("../../harness/mockProgram");
        const cpu = process.cpuUsage();
        writeFileSync(target, JSON.stringify({ resources: registeredResourceCount(), cpuMs: (cpu.user + cpu.system) / 1000 }));
    });
}
