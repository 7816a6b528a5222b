#!/usr/bin/env node
// The outpost CLI: TypeScript sources run through tsx. A broker worker the backend forked starts here too.
import cluster from "node:cluster";
import { register } from "tsx/esm/api";

register();
if (cluster.isWorker) await import("../host/broker/cluster-worker.ts");
else await import("../host/cli/main.ts");
