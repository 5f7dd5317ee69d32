import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import type * as grpc from "@grpc/grpc-js";
import { allFiles } from "./services.js";

function collect(file: DescFile, seen: Map<string, DescFile>): void {
  if (seen.has(file.name)) return;
  for (const dep of file.dependencies) collect(dep, seen);
  seen.set(file.name, file);
}

/** Serves grpc.reflection.v1 and v1alpha for every file of the API, so `grpcurl list` works. */
export function addReflection(server: grpc.Server): void {
  const seen = new Map<string, DescFile>();
  for (const f of allFiles) collect(f, seen);
  const fileDescriptorProtos = [...seen.values()].map((f) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)),
  );
  // ReflectionService reads `fileDescriptorProtos` from each entry of a proto-loader package definition.
  const pkg = { hodei: { fileDescriptorProtos } } as unknown as ConstructorParameters<
    typeof ReflectionService
  >[0];
  new ReflectionService(pkg).addToServer(server);
}
