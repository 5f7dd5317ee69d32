/** `hodei microvm build-image`: builds (or finds cached) the guest image the microVM provider boots. */
import type { Command } from "commander";
import { action, type ActionResult, type CliDeps, type CommandContext } from "../context.js";
import { EXIT } from "../errors.js";

interface BuildFlags {
  dir?: string;
  kernelDeb?: string;
  force?: boolean;
  probe?: boolean;
}

async function buildImage(ctx: CommandContext, flags: BuildFlags): Promise<number> {
  // Imported only when this command runs, like the server, so other commands stay quick to start.
  const { loadServerConfig } = await import("@hodei/server");
  const { buildGuestImage, chooseAccel, hostTscKhz, microvmOptionsFromEnv } =
    await import("@hodei/providers");
  const config = loadServerConfig(ctx.deps.env);
  const options = microvmOptionsFromEnv(ctx.deps.env, {
    dataDir: config.dataDir,
    workerBundlePath: config.workerBundlePath,
    idleTimeoutMs: config.workerIdleTimeoutMs,
    instanceId: "cli",
  });
  const image = await buildGuestImage({
    imageDir: flags.dir ?? options.imageDir,
    workerBundlePath: options.workerBundlePath,
    kernelDeb: flags.kernelDeb,
    force: flags.force,
    log: (line) => ctx.out.note(line),
  });
  const facts: Record<string, string> = {
    image: image.dir,
    kernel: image.kernelPath,
    initramfs: image.initrdPath,
    nodeDisk: image.nodeDiskPath,
    kernelRelease: image.kernelRelease,
    built: image.built ? "now" : "earlier (cached)",
  };
  if (flags.probe) {
    const decision = await chooseAccel(
      options.accel,
      options.qemuPath,
      image.kernelPath,
      image.probeInitrdPath,
      options.kvmProbeTimeoutMs,
      await hostTscKhz(),
    );
    facts.accel = decision.accel;
    facts.accelNote = decision.note;
  }
  if (ctx.out.json) await ctx.out.line(JSON.stringify(facts));
  else for (const [k, v] of Object.entries(facts)) await ctx.out.line(`${k.padEnd(14)} ${v}`);
  return EXIT.OK;
}

export function addMicrovmCommands(program: Command, deps: CliDeps, result: ActionResult): void {
  const microvm = program.command("microvm").description("the microVM provider's guest image");
  microvm
    .command("build-image")
    .description(
      "build the guest image (Debian cloud kernel, initramfs with busybox, bash and the worker agent, and a " +
        "read-only disk holding node), " +
        "cached under HODEI_FC_IMAGE_DIR (default <data dir>/microvm/images)",
    )
    .option("--dir <dir>", "image cache directory (default: HODEI_FC_IMAGE_DIR or <data dir>/microvm/images)")
    .option("--kernel-deb <file>", "a linux-image-*-cloud-amd64 .deb to use instead of apt-get download")
    .option("--force", "build even when a cached image has the same inputs")
    .option("--probe", "then boot it once to tell whether KVM works here or TCG is used")
    .action(action(deps, result, (ctx, flags: BuildFlags) => buildImage(ctx, flags)));
}
