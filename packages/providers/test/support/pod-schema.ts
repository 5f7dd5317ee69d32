// Validates a pod manifest as the API server would: against the Kubernetes OpenAPI schema that the
// kubernetes-models package ships compiled (types, required fields, quantities, formats), plus the
// strict field validation the provider asks for (fieldValidation=Strict), for which the schema has
// no additionalProperties: every field must be one the OpenAPI models of @kubernetes/client-node know.
import * as k8s from "@kubernetes/client-node";
import { Pod } from "kubernetes-models/v1/Pod";

type Attribute = { baseName: string; type: string };
type Model = { getAttributeTypeMap(): Attribute[] };

function modelNamed(type: string): Model | undefined {
  const m = (k8s as unknown as Record<string, unknown>)[type];
  return m && typeof (m as Model).getAttributeTypeMap === "function" ? (m as Model) : undefined;
}

function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`, out));
    return;
  }
  const model = modelNamed(type);
  if (!model || typeof value !== "object" || Array.isArray(value)) return;
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, v] of Object.entries(value)) {
    const t = attributes.get(key);
    if (t === undefined) out.push(`${path}.${key}: unknown field`);
    else unknownFields(v, t, `${path}.${key}`, out);
  }
}

/** Every problem the schema finds in `manifest` (as JSON on the wire); empty when it is valid. */
export function podManifestProblems(manifest: unknown): string[] {
  const problems: string[] = [];
  try {
    new Pod(manifest as ConstructorParameters<typeof Pod>[0]).validate();
  } catch (e) {
    problems.push(...String(e instanceof Error ? e.message : e).split(", "));
  }
  const m = manifest as { apiVersion?: unknown; kind?: unknown };
  if (m.apiVersion !== "v1") problems.push(`apiVersion: expected "v1", got ${JSON.stringify(m.apiVersion)}`);
  if (m.kind !== "Pod") problems.push(`kind: expected "Pod", got ${JSON.stringify(m.kind)}`);
  unknownFields(manifest, "V1Pod", "pod", problems);
  return problems;
}
