// Where things are, from the compiled file's location (test/e2e/dist/support/*.js).
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
export const hodeiBin = fileURLToPath(new URL("../../../../packages/cli/bin/hodei.js", import.meta.url));
export const protoDir = fileURLToPath(new URL("../../../../proto", import.meta.url));
