// The composition root: database, writer, dispatcher, providers, gRPC and HTTP servers.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import {
  AuditService,
  JobExecutionService,
  LogStreamService,
  MetricsService,
  SchedulerService,
  WorkerAgentService,
  addService,
  health,
  providers,
} from "@hodei/api";
import { addReflection } from "@hodei/api/reflection";
import {
  GroupCommitWriter,
  JobsStatistics,
  activeJobs,
  forgetControlPlanes,
  migrate,
  openPglite,
  rehearseJobWrites,
  openPostgres,
  type Database,
} from "@hodei/store";
import type { ProviderKind } from "@hodei/providers";
import { ProviderManager } from "./provider-manager.js";
import { envProviders, providerCommon, providerFactories } from "./provider-kinds.js";
import { ProviderSet } from "./provider-set.js";
import type { FastifyInstance } from "fastify";
import { loadServerConfig, type ServerConfig } from "./config.js";
import { Dispatcher } from "./dispatcher.js";
import { toGrpcStatus } from "./error-map.js";
import { EventBus } from "./events.js";
import { jobHandlers, logHandlers } from "./grpc-jobs.js";
import { healthHandlers, metricsHandlers, schedulerHandlers } from "./grpc-misc.js";
import { providerHandlers } from "./grpc-providers.js";
import { workerHandlers, workerRequestDecoders } from "./grpc-workers.js";
import { auditHandlers } from "./grpc-audit.js";
import { buildHttpServer } from "./http-server.js";
import { startLogRetention } from "./log-retention.js";
import { InstanceLink } from "./instance-link.js";
import { JobService } from "./job-service.js";
import { createLogger, type Logger } from "./logger.js";
import { WorkerRegistry } from "./worker-registry.js";

/** How long open calls get to end on their own when the server stops. */
const SHUTDOWN_GRACE_MS = 2_000;

/** How often a control plane says it is alive and looks for jobs whose secrets' holder is gone. */
const HOLDER_CHECK_MS = 5_000;
/** A control plane silent this long is gone (it crashed): the jobs whose secrets it held fail. */
const HOLDER_STALE_MS = 30_000;

export interface ControlPlane {
  config: ServerConfig;
  grpcPort: number;
  httpPort: number;
  db: Database;
  stop(): Promise<void>;
}

function bindGrpc(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
}

/**
 * How many times the embedded database rehearses a job's statements at start-up. Measured here
 * (`bench/platform.mjs` cold latency, fresh server): 2 rehearsals left the first twenty cold starts
 * at p50 315-322 ms while V8 recompiled PGlite's hot functions under them; 15-30 moved that
 * recompiling to start-up (0.4-0.8 s more of it) and the p50 to 241-250 ms, the first job's to 291-311.
 */
const PGLITE_REHEARSALS = 20;

async function rehearse(db: Database, logger: Logger): Promise<void> {
  const started = performance.now();
  try {
    await rehearseJobWrites(db, PGLITE_REHEARSALS);
    logger.debug({ ms: Math.round(performance.now() - started) }, "database warmed up");
  } catch (err) {
    // A warm-up only: the jobs themselves will say what is wrong, if anything is.
    logger.warn({ err }, "database warm-up failed");
  }
}

export async function startControlPlane(
  config: ServerConfig,
  logger: Logger = createLogger(config.logLevel),
): Promise<ControlPlane> {
  const db = config.databaseUrl ? await openPostgres(config.databaseUrl) : await openPglite(config.dataDir);
  const applied = await migrate(db);
  if (applied.length) logger.info({ applied }, "migrations applied");
  if (db.kind === "pglite") await rehearse(db, logger);
  const controlPlaneId = randomUUID();
  // An embedded database has one owner: any other control plane recorded in it has stopped.
  if (db.kind === "pglite") await forgetControlPlanes(db, { except: controlPlaneId });
  // Only executions that were already running before this start can be orphans.
  const leftover = await activeJobs(db);
  const writer = new GroupCommitWriter(db);
  const bus = new EventBus();
  const registry = new WorkerRegistry();
  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  const grpcPort = await bindGrpc(server, `${config.grpcHost}:${config.grpcPort}`);
  const serverAddress = config.serverAddress ?? `127.0.0.1:${grpcPort}`;
  const providerSet = new ProviderSet({
    factories: providerFactories(config),
    common: providerCommon(config),
    order: config.providerOrder as ProviderKind[],
    logger,
  });
  const dispatcher = new Dispatcher({
    db,
    writer,
    bus,
    registry,
    providers: providerSet,
    config,
    logger,
    serverAddress,
    controlPlaneId,
  });
  // Other control planes can only share a PostgreSQL server (an embedded database has one owner).
  const link = config.databaseUrl
    ? new InstanceLink({ databaseUrl: config.databaseUrl, db, bus, dispatcher, logger })
    : undefined;
  await link?.start();
  const statistics = new JobsStatistics(db, (err) =>
    logger.warn({ err }, "could not refresh the statistics of the job queue"),
  );
  const jobs = new JobService({
    db,
    writer,
    bus,
    dispatcher,
    providers: providerSet,
    maxQueueSize: config.maxQueueSize,
    statistics,
    ...(link ? { peers: link } : {}),
  });
  await jobs.start();
  const providerManager = new ProviderManager({
    db,
    providers: providerSet,
    registry,
    dispatcher,
    jobs,
    logger,
  });
  await providerManager.start(envProviders(config));

  addService(server, JobExecutionService, jobHandlers(jobs, bus), toGrpcStatus);
  addService(server, LogStreamService, logHandlers(db, bus), toGrpcStatus);
  addService(server, SchedulerService, schedulerHandlers(db, registry), toGrpcStatus);
  addService(
    server,
    WorkerAgentService,
    workerHandlers({
      db,
      writer,
      registry,
      dispatcher,
      logger,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
    }),
    toGrpcStatus,
    workerRequestDecoders,
  );
  addService(server, MetricsService, metricsHandlers(), toGrpcStatus);
  addService(server, AuditService, auditHandlers(db), toGrpcStatus);
  addService(server, providers.ProviderManagementService, providerHandlers(providerManager), toGrpcStatus);
  addService(server, health.Health, healthHandlers(), toGrpcStatus);
  addReflection(server);

  const http: FastifyInstance = buildHttpServer(db, jobs, bus, registry, providerManager);
  await http.listen({ port: config.httpPort, host: config.grpcHost });
  const httpAddress = http.server.address();
  const httpPort = typeof httpAddress === "object" && httpAddress ? httpAddress.port : config.httpPort;

  const stopRetention = startLogRetention(db, config.logRetentionDays, logger);
  const sweep = setInterval(() => dispatcher.sweep(), config.sweepIntervalMs);
  sweep.unref();
  const checkHolders = () =>
    dispatcher
      .checkSecretHolders(HOLDER_STALE_MS)
      .catch((err: unknown) => logger.warn({ err }, "could not check the control planes holding secrets"));
  await checkHolders();
  const holders = setInterval(() => void checkHolders(), HOLDER_CHECK_MS);
  holders.unref();
  const orphans = setTimeout(() => {
    const n = dispatcher.failOrphanedJobs(leftover);
    if (n > 0) logger.warn({ jobs: n }, "failed jobs whose workers did not return after a restart");
  }, config.heartbeatTimeoutMs);
  orphans.unref();
  dispatcher.wake();
  logger.info(
    { grpcPort, httpPort, database: db.kind, providers: providerSet.list().map((e) => e.provider.name) },
    "Hodei control plane ready",
  );

  let stopping: Promise<void> | null = null;
  return {
    config,
    grpcPort,
    httpPort,
    db,
    stop() {
      stopping ??= (async () => {
        dispatcher.stop();
        statistics.stop();
        clearInterval(sweep);
        clearInterval(holders);
        stopRetention();
        clearTimeout(orphans);
        await providerSet.shutdown();
        // Calls still open after the grace (a client following logs or events, a worker not started
        // here) are ended: a shutdown must not wait on clients.
        await new Promise<void>((resolve) => {
          const grace = setTimeout(resolve, SHUTDOWN_GRACE_MS);
          server.tryShutdown(() => {
            clearTimeout(grace);
            resolve();
          });
        });
        server.forceShutdown();
        await http.close();
        await writer.drain();
        // The jobs whose secrets this process held can never run now: the others fail them at once.
        await forgetControlPlanes(db, { id: controlPlaneId }).catch((err: unknown) =>
          logger.warn({ err }, "could not record this control plane's stop"),
        );
        await link?.stop(); // after the last events, which the other instances should hear of
        await db.close();
      })();
      return stopping;
    },
  };
}

/** `hodei server`: starts on the environment's configuration and stops cleanly on SIGINT/SIGTERM. */
export async function runServerMain(env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadServerConfig(env);
  const logger = createLogger(config.logLevel);
  // A bug that leaves a promise unhandled is logged, never allowed to take the control plane down.
  process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection"));
  const cp = await startControlPlane(config, logger);
  process.stderr.write(
    `Hodei Jobs control plane\n  gRPC  ${config.grpcHost}:${cp.grpcPort}\n  HTTP  http://localhost:${cp.httpPort}\n  database  ${cp.db.kind === "pglite" ? `embedded (${config.dataDir})` : "PostgreSQL"}\n  workers   local processes, up to ${config.localMaxWorkers}\n`,
  );
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      logger.info("shutting down");
      void cp.stop().then(resolve, resolve);
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
}
