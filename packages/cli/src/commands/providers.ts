/** `hodei providers list|get|register|update|enable|disable|delete`. */
import type { Command } from "commander";
import { providers } from "@hodei/api";
import { action, type ActionResult, type CliDeps, type CommandContext } from "../context.js";
import { EXIT } from "../errors.js";
import { formatKeyValues } from "../format.js";
import { formatProvidersTable } from "../format-cluster.js";
import { keyValuesToRecord, parseCount } from "../parse-flags.js";

const service = providers.ProviderManagementService;
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

async function list(ctx: CommandContext): Promise<number> {
  const res = await ctx.client.call(service.method.listProviders, {});
  if (ctx.out.json) await ctx.out.document(providers.ListProvidersResponseSchema, res);
  else if (res.providers.length === 0) ctx.out.note("no providers");
  else await ctx.out.line(formatProvidersTable(res.providers));
  return EXIT.OK;
}

function describe(p: providers.Provider, s?: providers.ProviderStats): string {
  const entries: [string, string | undefined][] = [
    ["Name", p.name],
    ["Type", p.type],
    ["Enabled", p.enabled ? "yes" : "no"],
    ["Source", p.source === "env" ? "environment" : "registered"],
    ["Health", `${p.healthy ? "healthy" : "UNHEALTHY"}: ${p.health}`],
    ["Max workers", String(p.maxWorkers)],
  ];
  for (const [k, v] of Object.entries(p.capabilities)) entries.push([`  ${k}`, v]);
  for (const [k, v] of Object.entries(p.config)) entries.push([`Config ${k}`, v]);
  if (s) {
    const states = Object.entries(s.workersByState)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    entries.push(
      [
        "Workers",
        `${s.activeWorkers} live${states ? ` (${states})` : ""}, ${s.workersCreated} created, ${s.workersFailed} failed to start`,
      ],
      ["Jobs run", `${s.jobsRun} (${s.jobsFailed} failed or timed out)`],
      ["Provisioning", `p50 ${s.provisionP50Ms.toFixed(0)} ms, p99 ${s.provisionP99Ms.toFixed(0)} ms`],
    );
  }
  return formatKeyValues(entries);
}

async function get(ctx: CommandContext, name: string): Promise<number> {
  const res = await ctx.client.call(service.method.getProvider, { id: name });
  const stats = await ctx.client.call(service.method.getProviderStats, { id: name });
  if (ctx.out.json) await ctx.out.document(providers.ProviderStatsSchema, stats);
  else await ctx.out.line(describe(res.provider!, stats));
  return EXIT.OK;
}

async function show(ctx: CommandContext, res: providers.ProviderResponse): Promise<number> {
  if (ctx.out.json) await ctx.out.document(providers.ProviderResponseSchema, res);
  else await ctx.out.line(describe(res.provider!));
  return EXIT.OK;
}

interface RegisterFlags {
  type: string;
  config?: string[];
  maxWorkers?: string;
  disabled?: boolean;
}

export function addProviderCommands(program: Command, deps: CliDeps, result: ActionResult): void {
  const cmd = program.command("providers").alias("provider").description("manage providers");
  cmd
    .command("list")
    .alias("ls")
    .description("list providers")
    .action(action(deps, result, (ctx) => list(ctx)));
  cmd
    .command("get <name>")
    .description("one provider: health, capabilities, config and stats")
    .action(action(deps, result, (ctx, name: string) => get(ctx, name)));
  cmd
    .command("register <name>")
    .description("add a provider (its config uses the same variables as the environment)")
    .requiredOption("--type <type>", "local, docker, microvm or kubernetes")
    .option("--config <K=V>", "a setting, e.g. DOCKER_HOST=unix:///run/docker.sock (repeatable)", collect)
    .option("--max-workers <n>", "most workers at once")
    .option("--disabled", "register it disabled")
    .action(
      action(deps, result, async (ctx, name: string, flags: RegisterFlags) => {
        const res = await ctx.client.call(service.method.registerProvider, {
          provider: {
            name,
            type: flags.type,
            config: keyValuesToRecord(flags.config ?? []),
            maxWorkers: flags.maxWorkers === undefined ? 0 : parseCount(flags.maxWorkers),
          },
        });
        return show(
          ctx,
          flags.disabled ? await ctx.client.call(service.method.disableProvider, { id: name }) : res,
        );
      }),
    );
  cmd
    .command("update <name>")
    .description("change a registered provider's config or most workers")
    .option("--config <K=V>", "a setting (repeatable; replaces the whole config)", collect)
    .option("--max-workers <n>", "most workers at once")
    .action(
      action(deps, result, async (ctx, name: string, flags: Omit<RegisterFlags, "type" | "disabled">) =>
        show(
          ctx,
          await ctx.client.call(service.method.updateProvider, {
            provider: {
              id: name,
              config: keyValuesToRecord(flags.config ?? []),
              maxWorkers: flags.maxWorkers === undefined ? 0 : parseCount(flags.maxWorkers),
            },
          }),
        ),
      ),
    );
  cmd
    .command("enable <name>")
    .description("let a provider take new work")
    .action(
      action(deps, result, async (ctx, name: string) =>
        show(ctx, await ctx.client.call(service.method.enableProvider, { id: name })),
      ),
    );
  cmd
    .command("disable <name>")
    .description("stop giving a provider new work (running jobs finish)")
    .action(
      action(deps, result, async (ctx, name: string) =>
        show(ctx, await ctx.client.call(service.method.disableProvider, { id: name })),
      ),
    );
  cmd
    .command("delete <name>")
    .description("remove a registered provider")
    .option("--force", "even with live workers (destroyed) and waiting jobs (cancelled)")
    .action(
      action(deps, result, async (ctx, name: string, flags: { force?: boolean }) => {
        await ctx.client.call(service.method.deleteProvider, { id: name, force: flags.force ?? false });
        if (ctx.out.json) await ctx.out.line(JSON.stringify({ deleted: name }));
        else ctx.out.note(`provider ${name} deleted`);
        return EXIT.OK;
      }),
    );
}
