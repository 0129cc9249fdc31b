/**
 * The roll's client, in a worker thread of its own: the test's main thread drives the roll with
 * synchronous redis-cli and probe calls, which would otherwise stall the client's event loop and
 * show up as pauses that the cluster never made. Started by `startLoad` (redisRoll.ts).
 */
import { parentPort, workerData } from "worker_threads";
import { ClusterLoad } from "./redisRoll";

const load = new ClusterLoad(workerData.seed as string);
parentPort!.postMessage({ started: true });
parentPort!.on("message", async (message: { stop?: boolean }) => {
    if (message.stop) {
        parentPort!.postMessage({ figures: await load.stop() });
    }
});
