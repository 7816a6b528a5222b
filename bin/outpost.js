#!/usr/bin/env node
// The outpost CLI: TypeScript sources run through tsx.
import { register } from "tsx/esm/api";

register();
await import("../host/cli/main.ts");
