// A standard grpc-js client built from proto/hodei/*.proto at run time by @grpc/proto-loader, which
// takes plain JSON-like objects (snake_case fields, enum names as strings, int64 as strings) and
// hands them to protobufjs to encode: the way a JavaScript user who never saw our generated code
// calls the API, with whatever shapes such a user writes.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoDir } from "./paths.js";

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  enums: String,
  longs: String,
  defaults: true,
  oneofs: true,
};

/** A client whose methods are looked up by name; what they accept is up to protobufjs. */
export type JsonClient = grpc.Client & Record<string, unknown>;

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

function packageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(
    ["hodei/job_execution.proto", "hodei/log_stream.proto", "hodei/scheduler.proto"],
    { ...LOADER_OPTIONS, includeDirs: [protoDir] },
  );
}

/** The `hodei` package as proto-loader sees it. */
export function loadHodeiPackage(): grpc.GrpcObject {
  return grpc.loadPackageDefinition(packageDefinition()).hodei as grpc.GrpcObject;
}

/** The bytes such a client puts on the wire for `req` to `hodei.<service>/<method>`. */
export function wireBytes(service: string, method: string, req: object): Buffer {
  const svc = packageDefinition()[`hodei.${service}`] as protoLoader.ServiceDefinition;
  return svc[method]!.requestSerialize(req);
}

export function jsonClient(service: string, address: string): JsonClient {
  const Ctor = loadHodeiPackage()[service] as grpc.ServiceClientConstructor;
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as JsonClient;
}

/** One unary call; rejects with the grpc-js ServiceError (code and details). */
export function callJson<T = Record<string, unknown>>(
  client: JsonClient,
  method: string,
  req: unknown,
): Promise<T> {
  return new Promise((resolve, reject) =>
    (client[method] as Unary).call(client, req, (err, res) => (err ? reject(err) : resolve(res as T))),
  );
}
