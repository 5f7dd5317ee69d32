export { MicrovmProvider } from "./microvm-provider.js";
export {
  MICROVM_ENV,
  MIN_GUEST_MEMORY_MB,
  microvmOptionsFromEnv,
  type AccelChoice,
  type MicrovmProviderOptions,
} from "./microvm-options.js";
export { buildGuestImage, type BuildImageOptions, type GuestImage } from "./guest-image.js";
export { GUEST_SERVER_ADDRESS } from "./guest-init.js";
export { bootProbe, chooseAccel, kvmDeviceUsable, type AccelDecision } from "./accel-probe.js";
export { hostTscKhz } from "./host-tsc.js";
