export * from "./database.js";
export * from "./pglite-database.js";
export * from "./pg-database.js";
export * from "./migrate.js";
export * from "./records.js";
export * from "./group-commit.js";
export * from "./queries.js";
export type { ClaimResult, CreateJob, Finish } from "./write-batch.js";
export type { FinishedJob } from "./rows.js";
