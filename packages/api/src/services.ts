import { file_hodei_job_execution } from "./gen/hodei/job_execution_pb.js";
import { file_hodei_log_stream } from "./gen/hodei/log_stream_pb.js";
import { file_hodei_scheduler } from "./gen/hodei/scheduler_pb.js";
import { file_hodei_worker_agent } from "./gen/hodei/worker_agent_pb.js";
import { file_hodei_metrics } from "./gen/hodei/metrics_pb.js";
import { file_hodei_audit } from "./gen/hodei/audit_pb.js";
import { file_hodei_providers_provider_management } from "./gen/hodei/providers/provider_management_pb.js";
import { file_grpc_health_v1_health } from "./gen/grpc/health/v1/health_pb.js";

export const allFiles = [
  file_hodei_job_execution,
  file_hodei_log_stream,
  file_hodei_scheduler,
  file_hodei_worker_agent,
  file_hodei_metrics,
  file_hodei_audit,
  file_hodei_providers_provider_management,
  file_grpc_health_v1_health,
];
