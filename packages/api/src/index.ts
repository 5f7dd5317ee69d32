export * from "./gen/hodei/common_pb.js";
export * from "./gen/hodei/job_execution_pb.js";
export * from "./gen/hodei/log_stream_pb.js";
export * from "./gen/hodei/scheduler_pb.js";
export * from "./gen/hodei/worker_agent_pb.js";
export * from "./gen/hodei/metrics_pb.js";
export * from "./gen/hodei/audit_pb.js";
export * as providers from "./gen/hodei/providers/provider_management_pb.js";
export * as health from "./gen/grpc/health/v1/health_pb.js";
export * from "./grpc.js";
export * from "./self-encoded.js";
export * from "./status.js";
export { allFiles } from "./services.js";
export {
  encodeLogEntry,
  decodeLogEntry,
  decodeLogText,
  type LogLineView,
  type LogLines,
  type LogText,
  type LogTextPart,
} from "./log-entry-codec.js";
export { LogChunk, LogEntrySplice, checkLogEntries, transcodeLogLines } from "./log-chunk.js";
export * from "./log-subscription.js";
export * from "./log-batch-codec.js";
export { QueueJobsJsonError, queueJobsFromJson } from "./queue-jobs-json.js";
export { encodeWorkerBatch, splitWorkerBatch } from "./worker-batch-codec.js";
